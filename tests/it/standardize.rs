//! `--standardize` and `--standardize-targets` end to end: the scaling is
//! fitted on the training rows, kept in the model file, applied by `eval`
//! and `predict`, on by default for fresh CSV runs only, and never changed
//! by `--init`.

use crate::common;

use crate::common::cli::fails;
use backprop::Mlp;
use std::path::Path;
use std::process::Command;

fn backprop(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(dir).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{args:?}: {err}\n{out}");
    out.into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Two features on raw scales far from 1 (around 5,000 and 0.001), a class
/// from their standardised sum, and a target `y = 1e5·(z1 + 2·z2) + 4e5`
/// in the units of house prices: the columns `area,ratio,class,price` at
/// the 0-based positions `keep`, written to a file whose path is returned.
fn raw_scale_csv(dir: &Path, rows: usize, seed: u64, keep: &[usize]) -> String {
    let mut rng = backprop::rng::Rng::new(seed);
    let pick = |cells: [String; 4]| keep.iter().map(|&k| cells[k].clone()).collect::<Vec<_>>().join(",") + "\n";
    let mut s = pick(["area", "ratio", "class", "price"].map(String::from));
    for _ in 0..rows {
        let (z1, z2) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        let (a, r) = (5000.0 + 2000.0 * z1, 0.001 + 0.0005 * z2);
        let class = if z1 + z2 > 0.0 { "big" } else { "small" };
        let price = 1e5 * (z1 + 2.0 * z2) + 4e5;
        s += &pick([a.to_string(), r.to_string(), class.to_string(), price.to_string()]);
    }
    let p = dir.join(format!("raw{seed}.csv"));
    std::fs::write(&p, s).unwrap();
    p.to_str().unwrap().to_string()
}

fn scaling_of(model: &Path) -> Option<String> {
    let bytes = std::fs::read(model).unwrap();
    backprop::model::safetensors_metadata(&bytes, model).unwrap().get("scaling").cloned()
}

#[test]
fn a_fresh_csv_run_standardises_its_inputs_and_eval_and_predict_apply_it() {
    let dir = common::scratch("standardize");
    let (train, test) = (raw_scale_csv(&dir, 400, 1, &[0, 1, 2]), raw_scale_csv(&dir, 200, 2, &[0, 1, 2]));
    let cls = ["train", "--data", &train, "--target", "class", "--epochs", "30", "--quiet", "--out"];
    backprop(&dir, &[&cls[..], &["scaled.safetensors"]].concat());
    backprop(&dir, &[&cls[..], &["raw.safetensors", "--no-standardize"]].concat());
    assert_eq!(scaling_of(&dir.join("scaled.safetensors")).as_deref(), Some("inputs"));
    assert_eq!(scaling_of(&dir.join("raw.safetensors")), None);
    let acc = |model: &str| {
        let out = backprop(&dir, &["eval", "--model", model, "--data", &test, "--json"]);
        json(&out)["accuracy"].as_f64().unwrap()
    };
    let (scaled, raw) = (acc("scaled.safetensors"), acc("raw.safetensors"));
    assert!(scaled >= 0.95, "standardised inputs: eval accuracy {scaled}");
    assert!(
        raw < 0.9,
        "raw inputs were expected to train badly (accuracy {raw}); the test data is not raw-scale enough"
    );
    // predict scales the rows it is given: the labels it prints score as eval did.
    let pred = backprop(&dir, &["predict", "--model", "scaled.safetensors", "--data", &test]);
    let labels: Vec<&str> = pred.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let truth: Vec<String> = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().to_string())
        .collect();
    let right = labels.iter().zip(&truth).filter(|(p, t)| **p == t.as_str()).count();
    assert_eq!(labels.len(), 200);
    assert!((right as f64 / 200.0 - scaled).abs() < 1e-9, "predict {right}/200 against eval {scaled}");
}

#[test]
fn standardised_targets_train_in_unit_scale_and_predict_in_the_targets_units() {
    let dir = common::scratch("standardize");
    // Features area and ratio, the price the target: the text class left out.
    let (train, test) = (raw_scale_csv(&dir, 400, 3, &[0, 1, 3]), raw_scale_csv(&dir, 200, 4, &[0, 1, 3]));
    let base = ["train", "--data", &train, "--head", "linear", "--hidden", "16", "--optimizer", "adam"];
    let base = [&base[..], &["--lr", "0.01", "--epochs", "100", "--batch-size", "16", "--quiet"]].concat();
    backprop(&dir, &[&base[..], &["--standardize-targets", "--out", "both.safetensors"]].concat());
    assert_eq!(scaling_of(&dir.join("both.safetensors")).as_deref(), Some("inputs,targets"));
    let eval = json(&backprop(&dir, &["eval", "--model", "both.safetensors", "--data", &test, "--json"]));
    let r2 = eval["r2"].as_f64().unwrap();
    assert!(r2 > 0.95, "R² {r2}");
    // RMSE is in the targets' units (a spread of about 1.3e5), far above 1.
    let rmse = eval["rmse"].as_f64().unwrap();
    assert!(rmse > 100.0 && rmse < 0.25 * 1.3e5, "rmse {rmse}");
    let pred = backprop(&dir, &["predict", "--model", "both.safetensors", "--data", &test]);
    let first: f64 = pred.lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(first > 5e4 && first < 8e5, "a prediction in the targets' units: {first}");
    // The trained network is the same whether the scaling is applied inside
    // the predictor or by hand around the plain network.
    let m = Mlp::load(&dir.join("both.safetensors")).unwrap();
    let x: Vec<f32> = vec![5000.0, 0.001];
    let mut y = vec![0.0];
    m.predict(&x, 1, &mut y).unwrap();
    let s = m.scaling();
    let mut xs = x.clone();
    s.inputs.as_ref().unwrap().apply(&mut xs);
    let plain = Mlp::from_parts(m.sizes().to_vec(), m.activation(), m.head(), m.params().to_vec()).unwrap();
    let mut ys = vec![0.0];
    plain.predict(&xs, 1, &mut ys).unwrap();
    s.targets.as_ref().unwrap().unapply(&mut ys);
    assert_eq!(y, ys);
}

#[test]
fn idx_runs_stay_unscaled_and_init_keeps_its_files_scaling() {
    let dir = common::scratch("standardize");
    let train = raw_scale_csv(&dir, 100, 5, &[0, 1, 2]);
    let t = &train[..];
    backprop(&dir, &["train", "--data", t, "--target", "class", "--epochs", "1", "--quiet", "--out", "s.safetensors"]);
    backprop(&dir, &["train", "--data", t, "--target", "class", "--epochs", "1", "--quiet", "--no-standardize"]);
    std::fs::rename(dir.join("model.safetensors"), dir.join("plain.safetensors")).unwrap();
    // --init continues with the file's scaling: the same vectors, whatever
    // the data it continues on.
    let other = raw_scale_csv(&dir, 100, 6, &[0, 1, 2]);
    let init = ["train", "--data", &other, "--target", "class", "--epochs", "1", "--quiet", "--init"];
    backprop(&dir, &[&init[..], &["s.safetensors", "--out", "s2.safetensors"]].concat());
    let (a, b) = (Mlp::load(&dir.join("s.safetensors")).unwrap(), Mlp::load(&dir.join("s2.safetensors")).unwrap());
    assert_eq!(a.scaling(), b.scaling());
    assert!(a.scaling().inputs.is_some());
    backprop(&dir, &[&init[..], &["plain.safetensors", "--out", "p2.safetensors"]].concat());
    assert_eq!(scaling_of(&dir.join("p2.safetensors")), None, "a model without scaling stays unscaled");
    // Flags that would change the file's scaling are refused.
    let refuse = |model: &str, flag: &str| {
        let mut args = init.to_vec();
        args.extend([model, flag]);
        fails(&dir, &args, true, 2, &[flag, "--init model", "keeps the scaling"]);
    };
    refuse("plain.safetensors", "--standardize");
    refuse("s.safetensors", "--no-standardize");
    fails(&dir, &["train", "--data", t, "--target", "class", "--standardize-targets"], true, 2, &["--head linear"]);
    // IDX images are already in [0, 1]: no scaling unless asked.
    let imgs = common::cli::write(&dir, "i-images-idx3-ubyte", &common::cli::idx_images(30, 2, 120));
    common::cli::write(&dir, "i-labels-idx1-ubyte", &common::cli::idx_labels(30, 30));
    backprop(&dir, &["train", "--data", &imgs, "--epochs", "1", "--quiet", "--out", "idx.safetensors"]);
    assert_eq!(scaling_of(&dir.join("idx.safetensors")), None);
    backprop(
        &dir,
        &["train", "--data", &imgs, "--epochs", "1", "--quiet", "--standardize", "--out", "idx2.safetensors"],
    );
    assert_eq!(scaling_of(&dir.join("idx2.safetensors")).as_deref(), Some("inputs"));
}

/// A linear head's raw targets far from unit size get a hint in the run's
/// summary, as raw inputs do; standardised targets, or targets near unit
/// size, none.
#[test]
fn raw_targets_far_from_unit_size_get_a_hint() {
    let dir = common::scratch("standardize");
    let prices = raw_scale_csv(&dir, 50, 9, &[0, 1, 3]);
    let summary = |extra: &[&str]| {
        let args = ["train", "--data", &prices, "--head", "linear", "--epochs", "1", "--out", "h.safetensors"];
        let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).args(extra).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("scaling: ")).unwrap().to_string()
    };
    let raw = summary(&[]);
    assert!(raw.contains("the targets reach") && raw.contains("--standardize-targets"), "{raw}");
    let scaled = summary(&["--standardize-targets"]);
    assert!(!scaled.contains("the targets reach"), "{scaled}");
    let unit = raw_scale_csv(&dir, 50, 9, &[0, 1]);
    let args = ["train", "--data", &unit, "--head", "linear", "--epochs", "1", "--out", "u.safetensors"];
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("the targets reach"), "{err}");
}
