//! The engine's losses and gradients against the f64 oracle, for every head
//! and activation, on odd sizes; the oracle itself against central finite
//! differences.

use crate::common::{assert_gradients, assert_rel, batch, mlp, to_f64, RefMlp};
use backprop::{Activation, Head, Mlp, TrainConfig, Trainer};

/// Gives the biases non-zero values, so that their gradients are exercised
/// through a non-trivial forward pass too.
fn jitter_biases(m: &mut Mlp, seed: u64) {
    let mut rng = backprop::rng::Rng::new(seed);
    for l in 0..m.num_layers() {
        for b in m.layer_mut(l).unwrap().bias.iter_mut() {
            *b = rng.uniform(-0.5, 0.5);
        }
    }
}

/// The f64 oracle's backpropagated gradient equals central finite
/// differences of its loss to 1e-6 relative, for every head × activation.
#[test]
fn oracle_matches_central_finite_differences() {
    let sizes = [5, 7, 6, 4];
    for head in Head::ALL {
        for act in Activation::ALL {
            let mut m = mlp(&sizes, act, head, 3);
            jitter_biases(&mut m, 4);
            let r = RefMlp::from_mlp(&m);
            let (x, t) = batch(head, 9, sizes[0], sizes[3], 5);
            let (x, t) = (to_f64(&x), to_f64(&t));
            let (_, gw, gb) = r.grad(&x, &t, 9);
            let eps = 5e-6;
            let mut worst = 0.0f64;
            for l in 0..3 {
                for (is_w, n) in [(true, gw[l].len()), (false, gb[l].len())] {
                    for i in 0..n {
                        let mut p = r.clone();
                        let mut q = r.clone();
                        let (pp, qq) =
                            if is_w { (&mut p.w[l][i], &mut q.w[l][i]) } else { (&mut p.b[l][i], &mut q.b[l][i]) };
                        *pp += eps;
                        *qq -= eps;
                        let numeric = (p.loss(&x, &t, 9) - q.loss(&x, &t, 9)) / (2.0 * eps);
                        let analytic = if is_w { gw[l][i] } else { gb[l][i] };
                        let err = (numeric - analytic).abs() / numeric.abs().max(analytic.abs()).max(1e-4);
                        worst = worst.max(err);
                    }
                }
            }
            assert!(worst <= 1e-6, "{head} {act}: finite differences disagree by {worst:e}");
        }
    }
}

/// Loss and every gradient tensor of the engine agree with the oracle to
/// 1e-4 relative: every head × activation, widths that are not multiples of
/// 8 or of the tile, batches of 1, smaller than a shard, and not a multiple
/// of the shard size, on 1 and 3 threads.
#[test]
fn engine_gradients_match_the_oracle() {
    let sizes = [13, 19, 7, 5];
    for head in Head::ALL {
        for act in Activation::ALL {
            let mut m = mlp(&sizes, act, head, 7);
            jitter_biases(&mut m, 8);
            let r = RefMlp::from_mlp(&m);
            for (rows, shard_rows, threads) in [(1, 8, 1), (5, 8, 2), (37, 8, 3), (37, 0, 1), (64, 13, 2)] {
                let config = TrainConfig {
                    batch_size: 64,
                    shard_rows,
                    threads,
                    lr: 0.1,
                    min_parallel_flops: 0.0,
                    ..TrainConfig::default()
                };
                let mut tr = Trainer::new(m.clone(), config).unwrap();
                let (x, t) = batch(head, rows, sizes[0], sizes[3], rows as u64);
                let loss = tr.compute_gradients(&x, &t, rows).unwrap();
                let (want, gw, gb) = r.grad(&to_f64(&x), &to_f64(&t), rows);
                let what = format!("{head} {act} rows={rows} shard={shard_rows}");
                assert!(((loss as f64) - want).abs() <= 1e-4 * want.abs().max(1e-6), "{what}: loss {loss} vs {want}");
                assert_gradients(&what, &tr, &gw, &gb);
                // The outputs of the step are the oracle's y.
                let hs = r.forward(&to_f64(&x), rows);
                let (y, _) = r.head_rows(hs.last().unwrap(), &to_f64(&t), rows);
                let got: Vec<f32> = tr.last_outputs().flatten().copied().collect();
                assert_rel(&format!("{what} y"), &got, &y);
            }
        }
    }
}

/// Gradients stay right when a layer is cut into several column blocks run
/// on different threads (widths 300 and 260 on 3 threads).
#[test]
fn engine_gradients_match_the_oracle_across_column_blocks() {
    let sizes = [11, 300, 260, 4];
    for head in [Head::Softmax, Head::Linear] {
        let mut m = mlp(&sizes, Activation::Sigmoid, head, 21);
        jitter_biases(&mut m, 22);
        let r = RefMlp::from_mlp(&m);
        let config = TrainConfig {
            batch_size: 40,
            shard_rows: 24,
            threads: 3,
            lr: 0.1,
            min_parallel_flops: 0.0,
            ..TrainConfig::default()
        };
        let mut tr = Trainer::new(m, config).unwrap();
        let (x, t) = batch(head, 40, sizes[0], sizes[3], 23);
        tr.compute_gradients(&x, &t, 40).unwrap();
        let (_, gw, gb) = r.grad(&to_f64(&x), &to_f64(&t), 40);
        assert_gradients(&head.to_string(), &tr, &gw, &gb);
    }
}

/// A step moves every parameter by exactly `-lr·g` (plain SGD), and the
/// updated network's loss is lower.
#[test]
fn a_step_applies_minus_lr_times_the_gradient() {
    let sizes = [6, 9, 3];
    let m = mlp(&sizes, Activation::Sigmoid, Head::Softmax, 9);
    let (x, t) = batch(Head::Softmax, 20, 6, 3, 10);
    let config = TrainConfig { batch_size: 20, shard_rows: 7, threads: 2, lr: 0.3, ..TrainConfig::default() };
    let mut tr = Trainer::new(m.clone(), config).unwrap();
    let before = tr.compute_gradients(&x, &t, 20).unwrap();
    let g = tr.gradients().to_vec();
    tr.apply_gradients().unwrap();
    for ((&p1, &p0), &g) in tr.mlp().params().iter().zip(m.params()).zip(&g) {
        assert_eq!(p1, p0 + -0.3 * g);
    }
    let after = tr.compute_gradients(&x, &t, 20).unwrap();
    assert!(after < before, "loss went from {before} to {after}");
}

/// The trainer applies the schedule's rate and the clipping factor:
/// `w ← w - lr_t·min(1, c/(‖g‖+1e-6))·g` with plain SGD.
#[test]
fn steps_use_the_scheduled_rate_and_clip_the_global_norm() {
    use backprop::optim::{Schedule, ScheduleKind};
    let m = mlp(&[6, 9, 3], Activation::Tanh, Head::Softmax, 11);
    let (x, t) = batch(Head::Softmax, 20, 6, 3, 12);
    let schedule = Schedule { kind: ScheduleKind::Step { step_size: 1, gamma: 0.5 }, warmup_steps: 2 };
    let config =
        TrainConfig { batch_size: 20, threads: 2, lr: 0.8, schedule, clip_norm: Some(0.05), ..TrainConfig::default() };
    let mut tr = Trainer::new(m, config).unwrap();
    // Warm-up 0.4, 0.8, then 0.8·0.5^j.
    for want_lr in [0.4, 0.8, 0.8, 0.4, 0.2] {
        assert_eq!(tr.current_lr(), want_lr);
        let before = tr.mlp().params().to_vec();
        tr.compute_gradients(&x, &t, 20).unwrap();
        let g = tr.gradients().to_vec();
        let norm = g.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
        assert!((tr.grad_norm() - norm).abs() <= 1e-5 * norm, "norm {} vs {norm}", tr.grad_norm());
        assert!(norm > 0.05, "the test needs gradients that get clipped");
        let scale = (0.05 / (tr.grad_norm() + 1e-6)).min(1.0) as f32;
        tr.apply_gradients().unwrap();
        for ((&p1, &p0), &g) in tr.mlp().params().iter().zip(&before).zip(&g) {
            assert_eq!(p1, p0 + -(want_lr as f32) * (g * scale));
        }
    }
}
