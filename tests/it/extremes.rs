//! Extreme logits (±1000, ±88, 0, mixed rows) give finite errors equal to
//! the closed forms, on every kernel path, and δ = y - t exactly.

use backprop::kernels::{HeadRows, Kernels, SimdPath};
use backprop::Head;

fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

/// The closed form of a row's error, in f64.
fn closed_form(head: Head, s: &[f32], t: &[f32]) -> f64 {
    let s: Vec<f64> = s.iter().map(|&v| v as f64).collect();
    let t: Vec<f64> = t.iter().map(|&v| v as f64).collect();
    match head {
        Head::Softmax => {
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + s.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            s.iter().zip(&t).map(|(s, t)| -t * (s - lse)).sum()
        }
        Head::Logistic => s.iter().zip(&t).map(|(&s, &t)| softplus(s) - t * s).sum(),
        Head::Linear => s.iter().zip(&t).map(|(s, t)| 0.5 * (s - t) * (s - t)).sum(),
        Head::Poisson => s.iter().zip(&t).map(|(&s, &t)| s.exp() - t * s).sum(),
    }
}

fn run(k: &Kernels, head: Head, s: &[f32], t: &[f32]) -> (Vec<f32>, Vec<f32>, f32) {
    let (mut y, mut d, mut l) = (s.to_vec(), vec![f32::NAN; s.len()], [f32::NAN]);
    let b = vec![0.0; s.len()];
    head.forward_loss(k, HeadRows { s: &mut y, b: &b, t, delta: &mut d, loss: &mut l, scale: 1.0, weights: None })
        .unwrap();
    (y, d, l[0])
}

#[test]
fn extreme_logits_give_the_closed_forms() {
    let softmax_rows: &[(&[f32], &[f32])] = &[
        (&[1000.0, -1000.0, 0.0], &[0.0, 1.0, 0.0]),
        (&[1000.0, -1000.0, 0.0], &[1.0, 0.0, 0.0]),
        (&[88.0, -88.0, 0.0, 88.0], &[1.0, 0.0, 0.0, 0.0]),
        (&[-88.0, -88.0, -1000.0], &[0.0, 0.0, 1.0]),
        (&[0.0, 0.0, 0.0], &[0.0, 1.0, 0.0]),
        (&[-1000.0, -1000.0], &[0.5, 0.5]),
        (
            &[1000.0, 999.5, -1000.0, 88.0, -88.0, 0.0, 3.0, -3.0, 1000.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
    ];
    let logistic_rows: &[(&[f32], &[f32])] = &[
        (&[1000.0, -1000.0, 88.0, -88.0, 0.0], &[0.0, 1.0, 1.0, 0.0, 0.5]),
        (&[1000.0, -1000.0, 88.0, -88.0, 0.0], &[1.0, 0.0, 0.0, 1.0, 1.0]),
        (&[-1000.0; 17], &[1.0; 17]),
    ];
    let linear_rows: &[(&[f32], &[f32])] =
        &[(&[1000.0, -1000.0, 88.0, 0.0], &[0.0, 0.0, 88.0, -1.0]), (&[-88.0, 1e3], &[88.0, -1e3])];
    // e^s stays finite up to s ≈ 88.7; below, y underflows to 0 (subnormal
    // near -87.3, 0 below -104) while the error, taken from s, stays exact.
    let poisson_rows: &[(&[f32], &[f32])] = &[
        (&[88.0, -88.0, 0.0, 3.0], &[0.0, 5.0, 1.0, 20.0]),
        (&[-1000.0, -200.0, -104.0, 50.0], &[1.0, 3.0, 0.0, 1e6]),
        (&[-1000.0; 17], &[2.0; 17]),
    ];
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        let heads = [(Head::Softmax, softmax_rows), (Head::Logistic, logistic_rows), (Head::Linear, linear_rows)];
        for (head, rows) in heads.into_iter().chain([(Head::Poisson, poisson_rows)]) {
            for &(s, t) in rows {
                let (y, d, e) = run(&k, head, s, t);
                let want = closed_form(head, s, t);
                let what = format!("{:?} {head} s={s:?}", k.path());
                assert!(e.is_finite(), "{what}: error {e}");
                assert!(
                    ((e as f64) - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{what}: error {e}, closed form {want}"
                );
                for ((&y, &t), &d) in y.iter().zip(t).zip(&d) {
                    assert!(y.is_finite(), "{what}: y {y}");
                    assert_eq!(d.to_bits(), (y - t).to_bits(), "{what}: δ {d} ≠ y - t = {}", y - t);
                }
                if head == Head::Softmax {
                    let sum: f64 = y.iter().map(|&v| v as f64).sum();
                    assert!((sum - 1.0).abs() <= 1e-6, "{what}: Σy = {sum}");
                }
            }
        }
    }
}

/// Adding a constant to a row of logits changes neither the softmax error
/// nor δ.
#[test]
fn softmax_is_shift_invariant() {
    let s: Vec<f32> = vec![0.5, -1.25, 2.0, 0.0, 3.5];
    let t = [0.0, 0.0, 1.0, 0.0, 0.0];
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        let (y0, d0, e0) = run(&k, Head::Softmax, &s, &t);
        for c in [64.0f32, -512.0, 900.0] {
            let shifted: Vec<f32> = s.iter().map(|v| v + c).collect();
            let (y1, d1, e1) = run(&k, Head::Softmax, &shifted, &t);
            assert!((e0 - e1).abs() <= 1e-5, "{:?} shift {c}: error {e0} vs {e1}", k.path());
            for ((a, b), (p, q)) in y0.iter().zip(&y1).zip(d0.iter().zip(&d1)) {
                assert!((a - b).abs() <= 1e-6 && (p - q).abs() <= 1e-6, "{:?} shift {c}", k.path());
            }
        }
    }
}

/// Gradients near 1e19 are finite, but their squares sum past the f32
/// maximum: the global norm is accumulated in f64, so with clipping the
/// step goes ahead (it used to be refused as non-finite) and moves the
/// parameters by at most lr × clip norm.
#[test]
fn clipping_steps_through_gradients_near_1e19() {
    use backprop::{Mlp, TrainConfig, Trainer};
    let mlp = Mlp::builder().input(8).hidden(16).head(Head::Linear, 1).seed(3).build().unwrap();
    let before = mlp.params().to_vec();
    let config = TrainConfig { batch_size: 8, lr: 0.5, clip_norm: Some(1.0), threads: 1, ..TrainConfig::default() };
    let mut tr = Trainer::new(mlp, config).unwrap();
    let x: Vec<f32> = (0..64).map(|i| (i % 5) as f32 * 0.25).collect();
    let t = vec![1e19f32; 8];
    // E = ½(y - t)² ≈ 5e37 a row: finite in f32, summed over rows in f64.
    tr.step(&x, &t, 8).expect("a clipped step on huge but finite gradients");
    let norm = tr.grad_norm();
    assert!(norm.is_finite() && norm > 1e19, "‖g‖ = {norm:e}");
    let moved: f64 = tr.mlp().params().iter().zip(&before).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
    assert!(moved <= 0.5 * 1.0 * (1.0 + 1e-4), "the clipped step moved the parameters by {moved}");
    assert!(moved > 0.1, "the step did nothing ({moved})");
}
