//! The Poisson head against PyTorch's `PoissonNLLLoss(log_input=True,
//! full=False)`: the loss and every gradient of a small network, on the
//! plain mean over the rows and on a weighted mean (row weights), as
//! PyTorch 2.15 computed them (tests/fixtures/torch_poisson.py).

use backprop::{Activation, Head, Mlp, TrainConfig, Trainer};

include!("../fixtures/torch_poisson.rs");

const I: usize = 3;
const H: usize = 5;
const O: usize = 2;
const R: usize = 7;

/// The fixture's network, inputs, targets and weights (every value exact
/// in f32; the formulas are the script's).
fn fixture() -> (Mlp, Vec<f32>, Vec<f32>, Vec<f32>) {
    let m8 = |v: i64, m: i64| (v.rem_euclid(m)) as f32;
    let mut p = Vec::new();
    p.extend((0..I).flat_map(|i| (0..H).map(move |j| (m8(7 * i as i64 + 3 * j as i64, 11) - 5.0) / 8.0)));
    p.extend((0..H).map(|j| (j as f32 - 2.0) / 16.0));
    p.extend((0..H).flat_map(|i| (0..O).map(move |j| (m8(5 * i as i64 + 2 * j as i64, 7) - 3.0) / 8.0)));
    p.extend((0..O).map(|j| j as f32 / 4.0 - 0.125));
    let mlp = Mlp::from_parts(vec![I, H, O], Activation::Sigmoid, Head::Poisson, p).unwrap();
    let x = (0..R).flat_map(|r| (0..I).map(move |i| (m8(3 * r as i64 + 5 * i as i64, 13) - 6.0) / 8.0)).collect();
    let t = (0..R).flat_map(|r| (0..O).map(move |j| m8(2 * r as i64 + 3 * j as i64, 5))).collect();
    (mlp, x, t, vec![0.0, 1.0, 2.5, 3.0, 0.5, 1.0, 4.0])
}

/// Within 4 ulp of PyTorch's value, or 1e-6 of the largest gradient where
/// a sum cancels to near 0 (the two sum the rows in different orders).
fn close(what: &str, got: f32, want: f32, top: f32) {
    let tol = (4.0 * f32::EPSILON * want.abs()).max(1e-6 * top);
    assert!((got - want).abs() <= tol, "{what}: {got:e} vs PyTorch {want:e}");
}

#[test]
fn poisson_loss_and_gradients_match_pytorch() {
    let (mlp, x, t, w) = fixture();
    for &(name, loss_bits, grads) in TORCH {
        for threads in [1, 2] {
            let config = TrainConfig { batch_size: R, threads, min_parallel_flops: 0.0, ..TrainConfig::default() };
            let mut tr = Trainer::new(mlp.clone(), config).unwrap();
            let loss = match name {
                "mean" => tr.step(&x, &t, R).unwrap(),
                _ => tr.step_weighted(&x, &t, &w, R).unwrap(),
            };
            close(&format!("{name} loss"), loss, f32::from_bits(loss_bits), 0.0);
            let want: Vec<f32> = grads.iter().map(|&b| f32::from_bits(b)).collect();
            let top = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (&g, &p)) in tr.gradients().iter().zip(&want).enumerate() {
                close(&format!("{name} gradient {i} ({threads} threads)"), g, p, top);
            }
        }
    }
}
