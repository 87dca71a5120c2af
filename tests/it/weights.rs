//! Row weights (scikit-learn's `sample_weight`): the weighted mean error
//! and its gradient against the f64 oracle, weights of 1 against no
//! weights to the bit, whole-number weights against repeated rows, rows of
//! weight 0 against rows left out, the bits on any thread count and cut,
//! and bad weights refused.

use crate::common::{assert_gradients, assert_rel, batch, mlp, to_f64, RefMlp};
use backprop::{Activation, ErrorKind, Head, Mlp, TrainConfig, Trainer};

fn trainer(m: &Mlp, threads: usize, shard_rows: usize) -> Trainer {
    let config =
        TrainConfig { batch_size: 64, threads, shard_rows, lr: 0.1, min_parallel_flops: 0.0, ..TrainConfig::default() };
    Trainer::new(m.clone(), config).unwrap()
}

/// Weights 0, 3, 1, 4, 2 over and over: zeros, ones and whole numbers.
fn weights(rows: usize) -> Vec<f32> {
    (0..rows).map(|r| [0.0, 3.0, 1.0, 4.0, 2.0][r % 5]).collect()
}

/// The rows of `x` (`width` a row) each repeated `w` times.
fn repeated(x: &[f32], width: usize, w: &[f32]) -> Vec<f32> {
    x.chunks_exact(width).zip(w).flat_map(|(row, &k)| std::iter::repeat_n(row, k as usize).flatten().copied()).collect()
}

/// The weighted mean error and every gradient tensor agree with the f64
/// oracle's `Σ w E / Σ w` for every head, on 1 to 3 threads and several
/// cuts, with weights that are 0, 1 and larger.
#[test]
fn weighted_gradients_match_the_oracle() {
    let sizes = [13, 19, 7, 5];
    for head in Head::ALL {
        let m = mlp(&sizes, Activation::Tanh, head, 7);
        let r = RefMlp::from_mlp(&m);
        for (rows, shard_rows, threads) in [(1, 8, 1), (6, 8, 2), (37, 8, 3), (37, 0, 1), (64, 13, 2)] {
            let (x, t) = batch(head, rows, sizes[0], sizes[3], rows as u64);
            let mut w: Vec<f32> = weights(rows).iter().map(|v| v * 0.75).collect();
            w[0] = 1.5; // a single row of weight 0 would be a batch of no weight
            let mut tr = trainer(&m, threads, shard_rows);
            let loss = tr.step_weighted(&x, &t, &w, rows).unwrap();
            let (want, gw, gb) = r.grad_weighted(&to_f64(&x), &to_f64(&t), &to_f64(&w), rows);
            let what = format!("{head} rows={rows} shard={shard_rows}");
            assert!(((loss as f64) - want).abs() <= 1e-4 * want.abs().max(1e-6), "{what}: loss {loss} vs {want}");
            assert_gradients(&what, &tr, &gw, &gb);
        }
    }
}

/// Steps with every weight 1 give the bits of steps without weights, for
/// rows lying together and rows picked from a table.
#[test]
fn weights_of_one_give_the_unweighted_bits() {
    let sizes = [9, 16, 3];
    let m = mlp(&sizes, Activation::Sigmoid, Head::Softmax, 5);
    let (x, t) = batch(Head::Softmax, 40, 9, 3, 6);
    let ones = vec![1.0; 40];
    let idx: Vec<usize> = (0..40).rev().step_by(3).collect();
    let (mut a, mut b) = (trainer(&m, 2, 7), trainer(&m, 2, 7));
    for _ in 0..3 {
        let la = (a.step(&x, &t, 40).unwrap(), a.step_rows(&x, &t, &idx).unwrap());
        let lb = (b.step_weighted(&x, &t, &ones, 40).unwrap(), b.step_rows_weighted(&x, &t, &ones, &idx).unwrap());
        assert_eq!((la.0.to_bits(), la.1.to_bits()), (lb.0.to_bits(), lb.1.to_bits()));
    }
    let bits = |tr: &Trainer| tr.mlp().params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

/// A row of weight k is the row repeated k times, and a row of weight 0 a
/// row left out, up to the order of the sums: the same loss, and gradients
/// that agree with each other as closely as each agrees with the oracle.
#[test]
fn whole_number_weights_are_repeated_rows() {
    let sizes = [30, 17, 1];
    for head in [Head::Linear, Head::Poisson] {
        let m = mlp(&sizes, Activation::Relu, head, 3);
        let (x, t) = batch(head, 15, 30, 1, 4);
        let w = weights(15);
        let (xr, tr) = (repeated(&x, 30, &w), repeated(&t, 1, &w));
        let n = tr.len();
        let (mut a, mut b) = (trainer(&m, 1, 0), trainer(&m, 2, 8));
        let la = a.step_weighted(&x, &t, &w, 15).unwrap();
        let lb = b.step(&xr, &tr, n).unwrap();
        assert!((la - lb).abs() <= 1e-6 * lb.abs(), "{head}: weighted loss {la}, repeated rows {lb}");
        let repeated_grads: Vec<f64> = to_f64(b.gradients());
        assert_rel(&format!("{head}: weighted vs repeated gradients"), a.gradients(), &repeated_grads);
    }
}

/// A batch whose weights are all 0 leaves the parameters and the step
/// count as they are, and its loss is 0.
#[test]
fn a_batch_of_no_weight_changes_nothing() {
    let m = mlp(&[4, 6, 2], Activation::Relu, Head::Softmax, 9);
    let (x, t) = batch(Head::Softmax, 5, 4, 2, 10);
    let mut tr = trainer(&m, 1, 0);
    assert_eq!(tr.step_weighted(&x, &t, &[0.0; 5], 5).unwrap(), 0.0);
    assert_eq!((tr.mlp().params(), tr.steps()), (m.params(), 0));
}

/// Weights that are negative, NaN, infinite or of the wrong count are
/// errors naming the row, and the parameters stay as they were.
#[test]
fn bad_weights_are_refused() {
    let m = mlp(&[4, 6, 2], Activation::Relu, Head::Softmax, 9);
    let (x, t) = batch(Head::Softmax, 5, 4, 2, 10);
    let mut tr = trainer(&m, 1, 0);
    for (bad, want) in [(-1.0, "row 2 has weight -1"), (f32::NAN, "row 2 has weight NaN"), (f32::INFINITY, "inf")] {
        let mut w = vec![1.0; 5];
        w[2] = bad;
        let e = tr.step_weighted(&x, &t, &w, 5).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidConfig { .. }) && e.to_string().contains(want), "{e}");
        // Picked rows are checked by their row in the table.
        let e = tr.step_rows_weighted(&x, &t, &w, &[4, 2]).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    // A bad weight on a row the batch does not pick is not the step's.
    let mut w = vec![1.0; 5];
    w[3] = -1.0;
    tr.step_rows_weighted(&x, &t, &w, &[0, 1]).unwrap();
    let before = tr.mlp().params().to_vec();
    for short in [&[1.0; 4][..], &[1.0; 6][..]] {
        let e = tr.step_weighted(&x, &t, short, 5).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::ShapeMismatch { .. }), "{e}");
        assert!(tr.step_rows_weighted(&x, &t, short, &[0, 1]).is_err());
    }
    assert_eq!(tr.mlp().params(), &before[..]);
}

/// Weighted steps give the same bits on 1 to 3 threads and any cut.
#[test]
fn weighted_bits_do_not_depend_on_threads_or_the_cut() {
    let sizes = [20, 33, 4];
    let m = mlp(&sizes, Activation::Sigmoid, Head::Logistic, 11);
    let (x, t) = batch(Head::Logistic, 50, 20, 4, 12);
    let w: Vec<f32> = weights(50).iter().map(|v| v * 0.3).collect();
    let run = |threads, shard_rows| {
        let mut tr = trainer(&m, threads, shard_rows);
        for _ in 0..3 {
            tr.step_weighted(&x, &t, &w, 50).unwrap();
        }
        tr.mlp().params().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = run(1, 0);
    for (threads, shard_rows) in [(2, 0), (3, 7), (2, 13), (1, 9)] {
        assert!(run(threads, shard_rows) == one, "{threads} threads, shards of {shard_rows}");
    }
}
