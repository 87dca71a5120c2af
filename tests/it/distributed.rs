//! Data-parallel training through a [`Collective`]: ranks as threads
//! ([`Local`]) must end with the same bits as one process, for any number of
//! ranks, threads per rank and shard cut, short batches (where some ranks
//! hold no rows) and layers cut into several chain segments included; a
//! rank that fails mid-step ends the others' waits with an error naming
//! it. The same chain runs over MPI in tests/mpi.rs.

use crate::common;

use backprop::dist::{Collective, Local};
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::{Activation, Head, Mlp, Precision, TrainConfig, Trainer};

/// Layer 0 (200 → 1400) is wider than a chain segment holds: three
/// segments, the last of partial tiles.
const SIZES: [usize; 4] = [200, 1400, 30, 5];
const BATCH: usize = 48;
const SHARD_ROWS: usize = 12;

/// What a run leaves: the parameters, each step's loss and gradient norm, and the last step's
/// outputs and row errors.
#[derive(Debug, PartialEq)]
struct Run {
    params: Vec<u32>,
    losses: Vec<u32>,
    outputs: Vec<u32>,
    row_losses: Vec<u32>,
    /// Each step's gradient norm.
    norms: Vec<u64>,
}

fn bits(v: impl IntoIterator<Item = f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

fn trainer(threads: usize, opt: Box<dyn Optimizer>) -> Trainer {
    clipped(threads, opt, Some(0.5))
}

/// [`trainer`] with `clip_norm`.
fn clipped(threads: usize, opt: Box<dyn Optimizer>, clip_norm: Option<f64>) -> Trainer {
    cut(threads, opt, clip_norm, SHARD_ROWS)
}

/// [`clipped`] with shards of `shard_rows` (0: the trainer's choice).
fn cut(threads: usize, opt: Box<dyn Optimizer>, clip_norm: Option<f64>, shard_rows: usize) -> Trainer {
    in_precision(cut_config(threads, clip_norm, shard_rows), opt)
}

/// The settings of [`cut`].
fn cut_config(threads: usize, clip_norm: Option<f64>, shard_rows: usize) -> TrainConfig {
    TrainConfig {
        batch_size: BATCH,
        shard_rows,
        threads,
        lr: 0.01,
        clip_norm,
        min_parallel_flops: 0.0,
        ..TrainConfig::default()
    }
}

/// The network of every run, trained with `config`.
fn in_precision(config: TrainConfig, opt: Box<dyn Optimizer>) -> Trainer {
    let mlp = Mlp::builder()
        .input(SIZES[0])
        .hidden(SIZES[1])
        .hidden(SIZES[2])
        .activation(Activation::Tanh)
        .head(Head::Softmax, SIZES[3])
        .seed(11)
        .build()
        .unwrap();
    Trainer::with_optimizer(mlp, config, opt).unwrap()
}

/// Seven steps; the fourth is 13 rows, the sixth 40 (weighted) and the
/// last 3 (on more than three ranks, some hold none).
fn train(mut tr: Trainer) -> Run {
    let (mut losses, mut norms) = (Vec::new(), Vec::new());
    for (step, rows) in [48, 48, 48, 13, 48, 40, 3].into_iter().enumerate() {
        let (mut x, t) = common::batch(Head::Softmax, rows, SIZES[0], SIZES[3], 300 + step as u64);
        // Batches whose shards are mostly zeros, all or the first two.
        match step {
            1 | 4 => common::sparsify(&mut x, SIZES[0], 0..rows, step as u64),
            2 => common::sparsify(&mut x, SIZES[0], 0..2 * SHARD_ROWS, step as u64),
            _ => {}
        }
        // The sixth step weighs its rows (0, 0.5, 1, 2.5, ...): every rank
        // weighs its own and takes Σ w from the whole batch.
        let w: Vec<f32> = (0..rows).map(|r| [0.0, 0.5, 1.0, 2.5][r % 4]).collect();
        losses.push(if step == 5 { tr.step_weighted(&x, &t, &w, rows) } else { tr.step(&x, &t, rows) }.unwrap());
        norms.push(tr.grad_norm().to_bits());
    }
    Run {
        norms,
        outputs: bits(tr.last_outputs().flatten().copied()),
        row_losses: bits(tr.last_losses()),
        losses: bits(losses),
        params: bits(tr.into_mlp().params().iter().copied()),
    }
}

/// Every rank's run on `ranks` threads-as-ranks, rank `r` with
/// `threads(r)` threads.
fn distributed(ranks: usize, threads: fn(usize) -> usize, opt: fn() -> Box<dyn Optimizer>) -> Vec<Run> {
    distributed_clipped(ranks, threads, opt, Some(0.5))
}

/// [`distributed`] with `clip_norm`.
fn distributed_clipped(
    ranks: usize,
    threads: fn(usize) -> usize,
    opt: fn() -> Box<dyn Optimizer>,
    clip_norm: Option<f64>,
) -> Vec<Run> {
    on_ranks(ranks, |r| clipped(threads(r), opt(), clip_norm))
}

/// Every rank's run on `ranks` threads-as-ranks, rank `r` with the trainer
/// `make(r)`.
fn on_ranks(ranks: usize, make: impl Fn(usize) -> Trainer + Sync) -> Vec<Run> {
    let make = &make;
    std::thread::scope(|s| {
        let runs: Vec<_> = Local::group(ranks)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let mut tr = make(comm.rank());
                    tr.distribute(Box::new(comm)).unwrap();
                    train(tr)
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn adam() -> Box<dyn Optimizer> {
    Box::new(Adam::default())
}

fn momentum() -> Box<dyn Optimizer> {
    Box::new(Sgd { momentum: 0.9, ..Sgd::default() })
}

#[test]
fn every_rank_ends_with_the_single_process_bits_on_1_to_5_ranks() {
    for clip in [Some(0.5), None] {
        for opt in [adam as fn() -> Box<dyn Optimizer>, momentum] {
            let one = train(clipped(1, opt(), clip));
            for ranks in 1..=5 {
                for (r, run) in distributed_clipped(ranks, |r| 1 + r % 2, opt, clip).iter().enumerate() {
                    assert!(run == &one, "clip {clip:?}, {ranks} ranks, rank {r}: not the single process's bits");
                }
            }
        }
    }
}

#[test]
fn threads_per_rank_do_not_change_the_bits() {
    let a = distributed(2, |_| 1, adam);
    let b = distributed(2, |_| 3, adam);
    assert_eq!(a[0], b[0]);
    assert_eq!(a[1], b[1]);
}

/// In bf16 the ranks' rows start at even rows (a chain's pairs stay whole),
/// so 1 to 5 ranks, odd shard sizes and short batches give the single
/// process's bits too.
#[test]
fn bf16_ranks_and_cuts_end_with_the_single_process_bits() {
    let bf16 = |threads, shard_rows| {
        let config = TrainConfig { precision: Precision::Bf16, ..cut_config(threads, Some(0.5), shard_rows) };
        in_precision(config, adam())
    };
    let one = train(bf16(1, BATCH));
    assert!(one != train(clipped(1, adam(), Some(0.5))), "bf16 gives fp32's bits");
    for ranks in 1..=5 {
        for (r, run) in on_ranks(ranks, |r| bf16(1 + r % 2, [5, 12, 0][r % 3])).iter().enumerate() {
            assert!(run == &one, "bf16, {ranks} ranks, rank {r}: not the single process's bits");
        }
    }
}

/// The cut is a speed setting: shards of 5, 12 or 48 rows, or the
/// trainer's own choice, on 1 or 3 threads, give the same bits.
#[test]
fn the_shard_cut_does_not_change_the_bits() {
    let one = train(cut(1, adam(), Some(0.5), BATCH));
    for (threads, shard_rows) in [(1, 5), (3, 5), (3, 12), (1, 0), (2, 0), (3, 0)] {
        let run = train(cut(threads, adam(), Some(0.5), shard_rows));
        assert!(run == one, "{threads} threads, shards of {shard_rows}: not the bits of one shard");
    }
}

/// A rank whose messages fail in the middle of a step: it aborts, and the
/// other ranks' step ends with an error naming it instead of waiting.
#[test]
fn a_rank_that_fails_mid_step_ends_the_others_steps_with_an_error() {
    /// A rank whose third send fails.
    struct Failing(Local, std::sync::atomic::AtomicUsize);
    impl Collective for Failing {
        fn rank(&self) -> usize {
            self.0.rank()
        }
        fn size(&self) -> usize {
            self.0.size()
        }
        fn send(&self, to: usize, data: &[f32]) -> backprop::Result<()> {
            if self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 2 {
                return Err(backprop::Error::collective(self.rank(), "the link went down"));
            }
            self.0.send(to, data)
        }
        fn receive(&self, from: usize, data: &mut [f32]) -> backprop::Result<()> {
            self.0.receive(from, data)
        }
        fn broadcast(&self, root: usize, data: &mut [f32]) -> backprop::Result<()> {
            self.0.broadcast(root, data)
        }
        fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> backprop::Result<()> {
            self.0.broadcast_bytes(root, bytes)
        }
        fn abort(&self, why: &str) {
            self.0.abort(why)
        }
    }
    let errors: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = Local::group(3)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let mut tr = trainer(1, adam());
                    let failing = comm.rank() == 1;
                    let comm: Box<dyn Collective> =
                        if failing { Box::new(Failing(comm, 0.into())) } else { Box::new(comm) };
                    tr.distribute(comm).unwrap();
                    let (x, t) = common::batch(Head::Softmax, BATCH, SIZES[0], SIZES[3], 1);
                    tr.step(&x, &t, BATCH).unwrap_err().to_string()
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(errors[1], "rank 1: the link went down");
    for r in [0, 2] {
        assert!(errors[r].contains("rank 1 failed: rank 1: the link went down"), "rank {r}: {}", errors[r]);
    }
}

#[test]
fn a_rank_that_ends_early_is_an_error_on_the_others_not_a_hang() {
    let mut comms = Local::group(2);
    let second = comms.pop().unwrap();
    drop(second);
    let mut tr = trainer(1, adam());
    tr.distribute(Box::new(comms.pop().unwrap())).unwrap();
    let (x, t) = common::batch(Head::Softmax, BATCH, SIZES[0], SIZES[3], 1);
    let e = tr.step(&x, &t, BATCH).unwrap_err();
    assert!(e.to_string().starts_with("rank 0: rank 1 has ended"), "{e}");
}

/// A network (4 → 3 → 1, linear head) whose first hidden unit is 0 for
/// every input and weighs 1e30 in the output: with targets of 1e18 the
/// loss is finite, but the delta of that unit, and so the first layer's
/// gradient, overflow.
fn overflowing(threads: usize) -> (Trainer, Vec<f32>, Vec<f32>) {
    let mlp =
        Mlp::builder().input(4).hidden(3).activation(Activation::Tanh).head(Head::Linear, 1).seed(3).build().unwrap();
    let config = TrainConfig { batch_size: 8, shard_rows: 4, threads, lr: 0.1, ..TrainConfig::default() };
    let mut tr = Trainer::with_optimizer(mlp, config, adam()).unwrap();
    let p = tr.params_mut();
    // Layer 0's weights (4 × 3) and biases, column 0; layer 1's weight of unit 0.
    for i in [0, 3, 6, 9, 12] {
        p[i] = 0.0;
    }
    p[15] = 1e30;
    let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
    (tr, x, vec![1e18; 8])
}

#[test]
fn a_non_finite_gradient_leaves_every_rank_s_parameters_untouched() {
    let one = {
        let (mut tr, x, t) = overflowing(1);
        let before = bits(tr.mlp().params().iter().copied());
        let e = tr.step(&x, &t, 8).unwrap_err();
        assert!(e.to_string().contains("the gradients (step 1)"), "{e}");
        assert_eq!(bits(tr.mlp().params().iter().copied()), before);
        before
    };
    let one = &one;
    let errors: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = Local::group(2)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let (mut tr, x, t) = overflowing(1);
                    tr.distribute(Box::new(comm)).unwrap();
                    let e = tr.step(&x, &t, 8).unwrap_err();
                    assert_eq!(&bits(tr.mlp().params().iter().copied()), one, "the parameters changed");
                    assert_eq!(tr.steps(), 0);
                    e.to_string()
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for e in errors {
        assert!(e.contains("the gradients (step 1)"), "{e}");
    }
}
