//! Standardisation that travels with a model: fitted as scikit-learn's
//! StandardScaler, kept through the model file, applied by the Predictor.

use backprop::model::{Scaling, Standardizer};
use backprop::{Head, LabeledRows, Mlp, Predictor};
use std::path::Path;

fn net(head: Head) -> Mlp {
    Mlp::builder().input(3).hidden(5).head(head, 2).seed(3).build().unwrap()
}

fn scaling(targets: bool) -> Scaling {
    let x = [1.0, 100.0, 7.0, 3.0, 300.0, 7.0, 5.0, 200.0, 7.0];
    let t = [1e5, -2.0, 3e5, 0.0, 2e5, 2.0];
    Scaling {
        inputs: Some(Standardizer::fit(&x, 3).unwrap()),
        targets: targets.then(|| Standardizer::fit(&t, 2).unwrap()),
    }
}

#[test]
fn fit_gives_the_mean_and_population_deviation_and_one_for_a_constant_column() {
    let s = Standardizer::fit(&[1.0, 100.0, 7.0, 3.0, 300.0, 7.0, 5.0, 200.0, 7.0], 3).unwrap();
    assert_eq!(s.mean, vec![3.0, 200.0, 7.0]);
    let sd = (8.0f64 / 3.0).sqrt() as f32;
    assert_eq!(s.std, vec![sd, (20000.0f64 / 3.0).sqrt() as f32, 1.0]);
    let mut v = vec![3.0, 300.0, 9.0];
    s.apply(&mut v);
    assert_eq!(v, vec![0.0, 100.0 / s.std[1], 2.0]);
    s.unapply(&mut v);
    assert!((v[1] - 300.0).abs() < 1e-4 && v[0] == 3.0 && v[2] == 9.0);
    assert!(Standardizer::fit(&[], 3).is_err());
    assert!(Standardizer::fit(&[1.0, f32::NAN], 2).is_err());
}

#[test]
fn scaling_round_trips_through_the_model_file_and_is_named_in_its_metadata() {
    for (head, targets) in [(Head::Softmax, false), (Head::Linear, true), (Head::Linear, false)] {
        let m = net(head).with_scaling(scaling(targets)).unwrap();
        let bytes = m.to_safetensors().unwrap();
        let back = Mlp::from_safetensors(&bytes, Path::new("m")).unwrap();
        assert_eq!(back, m);
        let meta = backprop::model::safetensors_metadata(&bytes, Path::new("m")).unwrap();
        assert_eq!(meta["scaling"], if targets { "inputs,targets" } else { "inputs" });
    }
    let plain = net(Head::Linear).to_safetensors().unwrap();
    assert!(!backprop::model::safetensors_metadata(&plain, Path::new("m")).unwrap().contains_key("scaling"));
    assert_eq!(Mlp::from_safetensors(&plain, Path::new("m")).unwrap().scaling(), &Scaling::default());
}

#[test]
fn a_scaling_that_does_not_fit_the_network_is_refused() {
    assert!(net(Head::Softmax).with_scaling(scaling(true)).is_err(), "targets scaled on a softmax head");
    let wrong = Scaling { inputs: Some(Standardizer { mean: vec![0.0; 2], std: vec![1.0; 2] }), targets: None };
    assert!(net(Head::Linear).with_scaling(wrong).is_err());
    let zero = Scaling { inputs: Some(Standardizer { mean: vec![0.0; 3], std: vec![1.0, 0.0, 1.0] }), targets: None };
    assert!(net(Head::Linear).with_scaling(zero).is_err());
}

#[test]
fn the_predictor_standardises_inputs_and_unscales_outputs() {
    let x = [2.0, 150.0, 7.0, 4.0, 250.0, 8.0];
    let s = scaling(true);
    let plain = net(Head::Linear);
    let scaled = plain.clone().with_scaling(s.clone()).unwrap();
    // By hand: the plain network on standardised inputs, its outputs un-scaled.
    let mut xs = x.to_vec();
    s.inputs.as_ref().unwrap().apply(&mut xs);
    let mut want = vec![0.0; 4];
    plain.predict(&xs, 2, &mut want).unwrap();
    s.targets.as_ref().unwrap().unapply(&mut want);
    let mut got = vec![0.0; 4];
    Predictor::with_threads(&scaled, 1).unwrap().predict(&x, 2, &mut got).unwrap();
    assert_eq!(got, want);
    assert!(got[0].abs() > 1e3, "outputs are in the targets' raw units: {got:?}");
    // The loss is the objective's, against the standardised targets.
    let t = [1e5, -2.0, 3e5, 0.0];
    let mut ts = t.to_vec();
    s.targets.as_ref().unwrap().apply(&mut ts);
    let (mut y, mut l, mut l_plain) = (vec![0.0; 4], vec![0.0; 2], vec![0.0; 2]);
    Predictor::with_threads(&scaled, 1)
        .unwrap()
        .predict_with_loss(LabeledRows { x: &x, t: &t, rows: 2 }, &mut y, &mut l)
        .unwrap();
    Predictor::with_threads(&plain, 1)
        .unwrap()
        .predict_with_loss(LabeledRows { x: &xs, t: &ts, rows: 2 }, &mut [0.0; 4], &mut l_plain)
        .unwrap();
    assert_eq!((y, l), (want, l_plain));
    // A predictor refuses weights whose scaling differs.
    assert!(Predictor::with_threads(&scaled, 1).unwrap().load(&plain).is_err());
}
