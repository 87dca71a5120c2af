//! Same seed and config give bit-identical weights whatever the thread
//! count and the shard cut: every gradient value is one chain over the
//! batch's rows in order, and no value depends on which thread computed it
//! or which shard held its row.

use crate::common;

use backprop::optim::{Adam, AdamW, Optimizer, Sgd};
use backprop::{Activation, Head, Mlp, Precision, TrainConfig, Trainer};

/// Where a run's steps go: `threads` threads, inside the pool
/// (`Trainer::within`) or handed to it step by step, and the products'
/// precision.
#[derive(Clone, Copy)]
struct Threads {
    threads: usize,
    within: bool,
    precision: Precision,
}

/// 20 steps on shards of `shard_rows` (0: the trainer's choice).
fn train(on: Threads, shard_rows: usize, act: Activation, head: Head, opt: Box<dyn Optimizer>) -> Vec<f32> {
    let Threads { threads, within, precision } = on;
    let sizes = [23usize, 40, 17, 6];
    let mlp = Mlp::builder()
        .input(sizes[0])
        .hidden(sizes[1])
        .hidden(sizes[2])
        .activation(act)
        .head(head, sizes[3])
        .seed(5)
        .build()
        .unwrap();
    let clip_norm = (opt.name() != "sgd").then_some(0.3);
    // Every step through the pool, however small.
    let config = TrainConfig {
        batch_size: 50,
        shard_rows,
        threads,
        lr: 0.02,
        clip_norm,
        min_parallel_flops: 0.0,
        precision,
        ..TrainConfig::default()
    };
    let mut tr = Trainer::with_optimizer(mlp, config, opt).unwrap();
    let steps = |tr: &mut Trainer| {
        for step in 0..20u64 {
            // The last batch of every fifth step is short, as at an epoch's end.
            let rows = if step % 5 == 4 { 31 } else { 50 };
            let (mut x, t) = common::batch(head, rows, sizes[0], sizes[3], 100 + step);
            // Some batches mostly zeros, whole or in part (their shards
            // skip the zeros).
            match step % 3 {
                1 => common::sparsify(&mut x, sizes[0], 0..rows, step),
                2 => common::sparsify(&mut x, sizes[0], 0..rows / 2, step),
                _ => {}
            }
            tr.step(&x, &t, rows).unwrap();
        }
    };
    if within {
        tr.within(steps);
    } else {
        steps(&mut tr);
    }
    tr.into_mlp().params().to_vec()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// In both precisions (bf16 cuts shards at even rows: 7 and 13 become 8
/// and 14).
#[test]
fn weights_are_bit_identical_on_1_2_3_and_8_threads_and_any_cut() {
    // Each case with its own optimizer (SGD with momentum, Adam, AdamW; the
    // Adam family clipped too).
    let opt = |i: usize| -> Box<dyn Optimizer> {
        match i {
            0 => Box::new(Sgd { momentum: 0.9, ..Sgd::default() }),
            1 => Box::new(Adam::default()),
            _ => Box::new(AdamW::default()),
        }
    };
    let cases =
        [(Activation::Sigmoid, Head::Softmax), (Activation::Relu, Head::Linear), (Activation::Tanh, Head::Logistic)];
    for precision in Precision::ALL {
        for (i, (act, head)) in cases.into_iter().enumerate() {
            // One shard of the whole batch on one thread: the reference.
            let one = bits(&train(Threads { threads: 1, within: false, precision }, 50, act, head, opt(i)));
            for shard_rows in [0, 7, 13] {
                for threads in [1, 2, 3, 8] {
                    for within in [false, true] {
                        let on = Threads { threads, within, precision };
                        let other = bits(&train(on, shard_rows, act, head, opt(i)));
                        let how = if within { "inside the pool" } else { "handed to the pool" };
                        assert!(
                            one == other,
                            "{precision} {act} {head} shard_rows={shard_rows}, {threads} threads ({how}): not one shard's bits"
                        );
                    }
                }
            }
        }
    }
}

/// bf16 changes the products, so the weights (and it is applied to every
/// layer's three products, not one): after 20 steps they differ from
/// fp32's, by about bf16's precision.
#[test]
fn bf16_training_differs_from_fp32_by_about_bf16s_precision() {
    let run = |precision| {
        let on = Threads { threads: 2, within: false, precision };
        train(on, 0, Activation::Sigmoid, Head::Softmax, Box::new(Sgd::default()))
    };
    let (f, b) = (run(Precision::Fp32), run(Precision::Bf16));
    let differ = f.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(differ > f.len() / 2, "only {differ} of {} weights changed", f.len());
    let worst = f.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let scale = f.iter().map(|x| x.abs()).fold(0.0f32, f32::max);
    assert!(worst < 0.02 * scale, "bf16 moved a weight by {worst} (largest weight {scale})");
}

/// `within` runs its closure on a thread of the trainer's pool; a panic
/// there reaches the caller, and the trainer, pool included, goes on as
/// one that never panicked.
#[test]
fn within_runs_on_the_pool_and_a_panic_there_leaves_the_trainer_whole() {
    let fresh = || {
        let mlp = Mlp::builder().input(9).hidden(12).head(Head::Softmax, 3).seed(2).build().unwrap();
        let config = TrainConfig { batch_size: 20, threads: 2, min_parallel_flops: 0.0, ..TrainConfig::default() };
        Trainer::new(mlp, config).unwrap()
    };
    let (x, t) = common::batch(Head::Softmax, 20, 9, 3, 7);
    let mut tr = fresh();
    let on_pool = |tr: &mut Trainer| {
        let name = tr.within(|_| std::thread::current().name().map(str::to_owned));
        assert!(name.as_deref().is_some_and(|n| n.starts_with("backprop-")), "{name:?}: not a pool thread");
    };
    on_pool(&mut tr);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tr.within(|_| panic!("inside"))));
    assert!(caught.is_err());
    on_pool(&mut tr); // the pool is back, not the stand-in
    let mut plain = fresh();
    for _ in 0..3 {
        tr.within(|tr| tr.step(&x, &t, 20)).unwrap();
        plain.step(&x, &t, 20).unwrap();
    }
    assert_eq!(bits(tr.mlp().params()), bits(plain.mlp().params()));
    assert_eq!(tr.within(|tr| tr.within(|tr| tr.steps())), 3, "within within runs in place");
}

/// Layers wide enough that a layer is cut into several column blocks (one
/// task each) on 2 and 3 threads, and a batch of two shards, the first taller
/// than the GEMM's row block (264).
#[test]
fn column_blocks_do_not_change_the_bits() {
    for precision in Precision::ALL {
        column_blocks_in(precision);
    }
}

/// [`column_blocks_do_not_change_the_bits`] in `precision` (bf16's blocks
/// start on its own tile's panels: the weights are packed ahead for the
/// two shards and cut on them).
fn column_blocks_in(precision: Precision) {
    let run = |threads: usize| {
        let mlp = Mlp::builder()
            .input(70)
            .hidden(300)
            .hidden(290)
            .activation(Activation::Tanh)
            .head(Head::Softmax, 9)
            .seed(8);
        let config = TrainConfig {
            batch_size: 300,
            shard_rows: 280,
            threads,
            lr: 0.05,
            min_parallel_flops: 0.0,
            precision,
            ..TrainConfig::default()
        };
        let mut tr = Trainer::with_optimizer(mlp.build().unwrap(), config, Box::new(Adam::default())).unwrap();
        for step in 0..5u64 {
            let (x, t) = common::batch(Head::Softmax, 300, 70, 9, 200 + step);
            tr.step(&x, &t, 300).unwrap();
        }
        bits(tr.mlp().params())
    };
    let one = run(1);
    for threads in [2, 3, 8] {
        assert!(one == run(threads), "{precision}: 1 and {threads} threads differ");
    }
}

#[test]
fn a_different_seed_gives_different_weights() {
    let a = Mlp::builder().input(4).hidden(5).head(Head::Softmax, 3).seed(1).build().unwrap();
    let b = Mlp::builder().input(4).hidden(5).head(Head::Softmax, 3).seed(2).build().unwrap();
    let c = Mlp::builder().input(4).hidden(5).head(Head::Softmax, 3).seed(1).build().unwrap();
    assert_ne!(a.params(), b.params());
    assert_eq!(a.params(), c.params());
}

/// Inference splits rows across threads and packs the weights ahead; a row's
/// outputs do not depend on either: every thread count gives the bits of
/// the one-off `Mlp::predict` (fp32) or of one thread (bf16), and of the
/// trainer's own forward pass in the same precision.
#[test]
fn predictions_are_bit_identical_on_any_thread_count() {
    use backprop::Predictor;
    let mlp = Mlp::builder().input(37).hidden(300).hidden(45).head(Head::Softmax, 7).seed(9).build().unwrap();
    let rows = 613; // more than two 256-row chunks per thread on 1 thread
    let x: Vec<f32> = (0..rows * 37).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    for precision in Precision::ALL {
        let mut want = vec![0.0; rows * 7];
        match precision {
            Precision::Fp32 => mlp.predict(&x, rows, &mut want).unwrap(),
            Precision::Bf16 => {
                Predictor::with_precision(&mlp, 1, precision).unwrap().predict(&x, rows, &mut want).unwrap()
            }
        }
        for threads in [1, 2, 3, 8] {
            let mut p = Predictor::with_precision(&mlp, threads, precision).unwrap();
            assert!(threads == 1 || p.parallel_for(rows));
            let mut y = vec![f32::NAN; rows * 7];
            p.predict(&x, rows, &mut y).unwrap();
            assert!(bits(&y) == bits(&want), "{precision}: {threads} threads");
        }
        // The trainer's forward on the same rows gives the same outputs.
        let mut t = vec![0.0; 64 * 7];
        (0..64).for_each(|r| t[r * 7 + r % 7] = 1.0);
        let config =
            TrainConfig { batch_size: 64, threads: 2, min_parallel_flops: 0.0, precision, ..TrainConfig::default() };
        let mut tr = Trainer::new(mlp.clone(), config).unwrap();
        tr.compute_gradients(&x[..64 * 37], &t, 64).unwrap();
        let trained: Vec<f32> = tr.last_outputs().flatten().copied().collect();
        assert!(bits(&trained) == bits(&want[..64 * 7]), "{precision}: the trainer's forward differs");
    }
}
