//! A training step allocates nothing on the heap after the first step at a
//! given batch size: every buffer is sized once. A counting global allocator
//! sees every allocation of every thread, the pool's included.

use backprop::optim::{Adam, Optimizer, Schedule, ScheduleKind, Sgd};
use backprop::{Head, LabeledRows, Mlp, Precision, TrainConfig, Trainer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn data(rows: usize, inputs: usize, outputs: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..rows * inputs).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
    let mut t = vec![0.0; rows * outputs];
    for r in 0..rows {
        t[r * outputs + r % outputs] = 1.0;
    }
    (x, t)
}

/// The whole test, run by `main` without libtest: the only threads are
/// this program's and the pool's, so every allocation counted is theirs
/// (libtest's own threads, which report and time the tests, may allocate
/// whenever they run).
fn steps_and_predictions_after_the_first_allocate_nothing() {
    if backprop::kernels::gemm::gemm_path() == backprop::kernels::gemm::GemmPath::MatrixMultiply {
        // BACKPROP_GEMM=matrixmultiply: that crate allocates on every call,
        // which is why it is not the default.
        eprintln!("skipped: the matrixmultiply GEMM path allocates by design");
        return;
    }
    let optimizers = || -> [Box<dyn Optimizer>; 3] {
        [
            Box::new(Sgd::default()),
            Box::new(Sgd { momentum: 0.9, nesterov: true, weight_decay: 1e-4 }),
            Box::new(Adam::default()),
        ]
    };
    // Narrow layers (shards side by side, the weights packed ahead) and a
    // wide one (one shard, its columns split across the threads).
    let cases = [1, 2, 4].into_iter().flat_map(|t| optimizers().into_iter().map(move |o| (t, o, 130)));
    // Every case in fp32; bf16 (operands converted as they are packed) on
    // 2 threads with both widths.
    let bf16 = [130, 300].map(|w| (2, Box::new(Adam::default()) as Box<dyn Optimizer>, w, Precision::Bf16));
    let fp32 = cases.chain([(2, Box::new(Adam::default()) as Box<dyn Optimizer>, 300)]);
    for (threads, opt, width, precision) in fp32.map(|(t, o, w)| (t, o, w, Precision::Fp32)).chain(bf16) {
        let mlp = Mlp::builder().input(300).hidden(width).hidden(64).head(Head::Softmax, 10).seed(1).build().unwrap();
        let schedule = Schedule { kind: ScheduleKind::Cosine { total_steps: 1000 }, warmup_steps: 10 };
        let config = TrainConfig {
            batch_size: 96,
            threads,
            lr: 0.1,
            schedule,
            clip_norm: Some(0.5),
            min_parallel_flops: 0.0,
            precision,
            ..TrainConfig::default()
        };
        let name = format!("{} {precision}", opt.name());
        let mut tr = Trainer::with_optimizer(mlp, config, opt).unwrap();
        for rows in [96, 41] {
            // The pool really runs these steps (a step this small would run
            // on the caller under the default threshold).
            assert_eq!(tr.parallel_for(rows), threads > 1, "{threads} threads, {rows} rows");
            let (x, t) = data(rows, 300, 10);
            tr.step(&x, &t, rows).unwrap();
            let before = ALLOCS.load(Ordering::SeqCst);
            for _ in 0..200 {
                tr.step(&x, &t, rows).unwrap();
            }
            let n = ALLOCS.load(Ordering::SeqCst) - before;
            assert_eq!(n, 0, "{name}, {threads} threads, {rows} rows: {n} allocations in 200 steps");
            // Rows picked from a larger table, gathered by the shards.
            let (table_x, table_t) = data(500, 300, 10);
            let idx: Vec<usize> = (0..rows).map(|i| (i * 37) % 500).collect();
            tr.step_rows(&table_x, &table_t, &idx).unwrap();
            let before = ALLOCS.load(Ordering::SeqCst);
            for _ in 0..100 {
                tr.step_rows(&table_x, &table_t, &idx).unwrap();
            }
            let n = ALLOCS.load(Ordering::SeqCst) - before;
            assert_eq!(n, 0, "{name}, {threads} threads, {rows} picked rows: {n} allocations in 100 steps");
        }
    }
    // Inference: a predictor's calls allocate nothing either, on the
    // calling thread or on its pool (rows split across the threads).
    for (threads, precision) in [1, 2, 4].map(|t| (t, Precision::Fp32)).into_iter().chain([(2, Precision::Bf16)]) {
        let mlp = Mlp::builder().input(300).hidden(130).hidden(64).head(Head::Softmax, 10).seed(1).build().unwrap();
        let mut p = backprop::Predictor::with_precision(&mlp, threads, precision).unwrap();
        for rows in [300, 41, 1] {
            assert_eq!(p.parallel_for(rows), threads > 1 && rows == 300, "{threads} threads, {rows} rows");
            let (x, t) = data(rows, 300, 10);
            let (mut y, mut loss) = (vec![0.0; rows * 10], vec![0.0; rows]);
            p.predict(&x, rows, &mut y).unwrap();
            p.predict_with_loss(LabeledRows { x: &x, t: &t, rows }, &mut y, &mut loss).unwrap();
            let before = ALLOCS.load(Ordering::SeqCst);
            for _ in 0..100 {
                p.predict(&x, rows, &mut y).unwrap();
                p.predict_with_loss(LabeledRows { x: &x, t: &t, rows }, &mut y, &mut loss).unwrap();
            }
            p.load(&mlp).unwrap();
            let n = ALLOCS.load(Ordering::SeqCst) - before;
            assert_eq!(n, 0, "predictor {precision}, {threads} threads, {rows} rows: {n} allocations in 200 calls");
        }
    }
}

fn main() {
    steps_and_predictions_after_the_first_allocate_nothing();
    println!("alloc: steps and predictions after the first allocate nothing");
}
