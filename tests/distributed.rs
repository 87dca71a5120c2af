//! Data-parallel training through a [`Collective`]: ranks as threads
//! ([`Local`]) must end with the same bits as one process, for any number of
//! ranks and threads per rank, short batches (where some ranks own no shard)
//! and layers cut into several chain segments included. The same chain runs
//! over MPI in tests/mpi.rs.

mod common;

use backprop::dist::{owned_shards, Collective, Local};
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::{Activation, Head, Mlp, TrainConfig, Trainer};

/// Layer 0 (200 → 1400) is wider than a chain segment holds: three
/// segments, the last of partial tiles.
const SIZES: [usize; 4] = [200, 1400, 30, 5];
const BATCH: usize = 48;
const SHARD_ROWS: usize = 12;

/// What a run leaves: the parameters, each step's loss, and the last step's
/// outputs and row errors.
#[derive(Debug, PartialEq)]
struct Run {
    params: Vec<u32>,
    losses: Vec<u32>,
    outputs: Vec<u32>,
    row_losses: Vec<u32>,
}

fn bits(v: impl IntoIterator<Item = f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

fn trainer(threads: usize, opt: Box<dyn Optimizer>) -> Trainer {
    let mlp = Mlp::builder()
        .input(SIZES[0])
        .hidden(SIZES[1])
        .hidden(SIZES[2])
        .activation(Activation::Tanh)
        .head(Head::Softmax, SIZES[3])
        .seed(11)
        .build()
        .unwrap();
    let config = TrainConfig {
        batch_size: BATCH,
        shard_rows: SHARD_ROWS,
        threads,
        lr: 0.01,
        clip_norm: Some(0.5),
        min_parallel_flops: 0.0,
        ..TrainConfig::default()
    };
    Trainer::with_optimizer(mlp, config, opt).unwrap()
}

/// Six steps; the fourth is 13 rows (two shards: on three or four ranks,
/// some own none) and the sixth 40.
fn train(mut tr: Trainer) -> Run {
    let mut losses = Vec::new();
    for (step, rows) in [48, 48, 48, 13, 48, 40].into_iter().enumerate() {
        let (x, t) = common::batch(Head::Softmax, rows, SIZES[0], SIZES[3], 300 + step as u64);
        losses.push(tr.step(&x, &t, rows).unwrap());
    }
    Run {
        outputs: bits(tr.last_outputs().flatten().copied()),
        row_losses: bits(tr.last_losses()),
        losses: bits(losses),
        params: bits(tr.into_mlp().params().iter().copied()),
    }
}

/// Every rank's run on `ranks` threads-as-ranks, rank `r` with
/// `threads(r)` threads.
fn distributed(ranks: usize, threads: fn(usize) -> usize, opt: fn() -> Box<dyn Optimizer>) -> Vec<Run> {
    std::thread::scope(|s| {
        let runs: Vec<_> = Local::group(ranks)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let mut tr = trainer(threads(comm.rank()), opt());
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
fn every_rank_ends_with_the_single_process_bits_on_1_to_4_ranks() {
    for opt in [adam as fn() -> Box<dyn Optimizer>, momentum] {
        let one = train(trainer(1, opt()));
        for ranks in 1..=4 {
            for (r, run) in distributed(ranks, |r| 1 + r % 2, opt).iter().enumerate() {
                assert!(run == &one, "{ranks} ranks, rank {r}: not the single process's bits");
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

#[test]
fn shards_are_dealt_to_ranks_in_order() {
    assert_eq!(owned_shards(4, 3, 0), 0..1);
    assert_eq!(owned_shards(4, 3, 1), 1..2);
    assert_eq!(owned_shards(4, 3, 2), 2..4);
}

#[test]
fn more_ranks_than_shards_is_an_error_before_any_step() {
    let mut comms = Local::group(5);
    let mut tr = trainer(1, adam());
    let e = tr.distribute(Box::new(comms.remove(0))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ranks: 5 ranks, but a batch of 48 rows is 4 shard(s) of 12 rows: every rank needs a shard (shard rows at most 9)"
    );
    assert!(tr.collective().is_none());
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
