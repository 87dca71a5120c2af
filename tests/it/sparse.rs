//! Inputs that are mostly zeros: the products that skip them
//! (`Kernels::nonzero_product`, `count_nonzeros`) against their scalar twins
//! and an f64 product on every path this CPU runs, and the trainer on such
//! inputs (whose first layer then takes those products) against the f64
//! oracle, shard by shard sparse, dense or mixed.

use crate::common;

use crate::common::kernels::{paths, scalar, Guarded};
use crate::common::{mlp, to_f64, RefMlp};
use backprop::kernels::gemm::{MatMut, MatRef, Strides};
use backprop::kernels::{Kernels, SimdPath, SparseOperands};
use backprop::layers::{sparse_forward, ForwardParams};
use backprop::rng::Rng;
use backprop::{Activation, Head, TrainConfig, Trainer};

/// `n` values of which about `density` are nonzero; the zeros are +0 and
/// -0 alike.
fn mostly_zeros(rng: &mut Rng, n: usize, density: f32) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.next_f32() {
            p if p < density => rng.uniform(-2.0, 2.0),
            p if p < (1.0 + density) / 2.0 => -0.0,
            _ => 0.0,
        })
        .collect()
}

/// Paths that fuse every multiply-add give the twin's bits; `wide` rounds
/// each product (no FMA in a default build).
fn fuses(k: &Kernels) -> bool {
    k.path() != SimdPath::Wide
}

/// `out (+)= a·m` skipping zeros equals its twin (bit for bit where the
/// path fuses) and an f64 product, over depths around the vector widths
/// and long lines (2100), output widths around the 8- and 16-vector
/// blocks, three to five lines (a group of three, then none, one or two
/// lines together), a row stride wider than the output, and with and
/// without `accumulate`. The output sits between NaN guards, so a missed or
/// stray write shows.
#[test]
fn nonzero_product_matches_its_twin_and_an_f64_product() {
    let mut rng = Rng::new(5);
    for k in paths() {
        for depth in [1, 7, 16, 17, 40, 1024, 1031, 2100] {
            for (c, lines) in
                [0, 1, 15, 16, 33, 64, 127, 128, 129, 200, 300].into_iter().zip([3, 4, 5].into_iter().cycle())
            {
                let ld = c + 5;
                let a = mostly_zeros(&mut rng, lines * depth, 0.2);
                let m: Vec<f32> = (0..depth * ld).map(|_| rng.uniform(-1.0, 1.0)).collect();
                for accumulate in [false, true] {
                    let start: Vec<f32> = (0..lines * c).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    let mut want = start.clone();
                    scalar()
                        .nonzero_product(&mut want, SparseOperands { a: &a, depth, m: &m, ld }, accumulate)
                        .unwrap();
                    let mut got = Guarded::from(&start);
                    k.nonzero_product(got.body_mut(), SparseOperands { a: &a, depth, m: &m, ld }, accumulate).unwrap();
                    let what = format!("{:?} depth {depth} c {c} accumulate {accumulate}", k.path());
                    got.assert_guards(&what);
                    let got = got.body();
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let (r, j) = (i / c.max(1), i % c.max(1));
                        let exact: f64 =
                            (0..depth).map(|q| a[r * depth + q] as f64 * m[q * ld + j] as f64).sum::<f64>()
                                + if accumulate { start[i] as f64 } else { 0.0 };
                        let tol = 1e-5 * (depth as f64).sqrt() * 4.0;
                        assert!((w as f64 - exact).abs() <= tol, "{what}[{i}]: twin {w}, f64 {exact}");
                        if fuses(&k) {
                            assert_eq!(g.to_bits(), w.to_bits(), "{what}[{i}]: {g:e} against the twin's {w:e}");
                        } else {
                            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()) * depth as f32, "{what}[{i}]: {g} vs {w}");
                        }
                    }
                }
            }
        }
    }
}

/// A product cut along its depth and run piece after piece with
/// `accumulate` continues each value's chain: the uncut product's bits, on
/// every path that fuses (the weight gradient of a batch taken shard after
/// shard, or rank after rank).
#[test]
fn nonzero_product_cut_along_its_depth_continues_one_chain() {
    let mut rng = Rng::new(9);
    let (lines, depth, c) = (5, 301, 70);
    let a = mostly_zeros(&mut rng, lines * depth, 0.2);
    let m: Vec<f32> = (0..depth * c).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for k in paths().into_iter().filter(fuses) {
        let mut whole = vec![f32::NAN; lines * c];
        k.nonzero_product(&mut whole, SparseOperands { a: &a, depth, m: &m, ld: c }, false).unwrap();
        let mut pieces = vec![f32::NAN; lines * c];
        for w in [0, 1, 64, 65, 200, 301].windows(2) {
            let (d0, d1) = (w[0], w[1]);
            let part: Vec<f32> = a.chunks(depth).flat_map(|line| line[d0..d1].to_vec()).collect();
            k.nonzero_product(&mut pieces, SparseOperands { a: &part, depth: d1 - d0, m: &m[d0 * c..], ld: c }, d0 > 0)
                .unwrap();
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&pieces) == bits(&whole), "{:?}: the pieces do not continue the chain", k.path());
    }
}

/// A zero of `a` contributes nothing where no line of its group of three
/// is nonzero, not even `0·∞ = NaN`; where another line is nonzero it adds
/// `0·m`, NaN against an infinite `m` as in a dense product, on every path
/// as in the twin. A NaN of `a` is a nonzero and reaches the output.
#[test]
fn zeros_are_skipped_and_nan_is_kept() {
    for k in paths() {
        let m = [f32::INFINITY, 2.0, f32::NAN, 3.0];
        // A group of three, then a line on its own. The group's positions
        // are 1 and 3: line 0 is 0.5·2 + 1·3 = 4, line 1 NaN·2, line 2
        // 0·2 + 4·3 = 12; 0·∞ and -0·NaN skipped. Line 3: 5·3.
        let mut out = [9.0f32; 4];
        let a = [0.0, 0.5, -0.0, 1.0, 0.0, f32::NAN, 0.0, 0.0, -0.0, 0.0, 0.0, 4.0, 0.0, 0.0, -0.0, 5.0];
        k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 4, m: &m, ld: 1 }, false).unwrap();
        assert_eq!(out[0], 4.0, "{:?}", k.path());
        assert!(out[1].is_nan(), "{:?}", k.path());
        assert_eq!(&out[2..], &[12.0, 15.0], "{:?}", k.path());
        // A group whose third line is nonzero at the infinite row: 0·∞ in
        // the other two.
        let mut three = [9.0f32; 3];
        k.nonzero_product(
            &mut three,
            SparseOperands { a: &[0.0, 1.0, 0.0, 0.0, 1.0, 0.0], depth: 2, m: &m, ld: 1 },
            false,
        )
        .unwrap();
        assert!(three[0].is_nan() && three[1].is_nan() && three[2].is_infinite(), "{:?}: {three:?}", k.path());
        // The last two lines go together: the same in a pair.
        let mut pair = [9.0f32; 5];
        k.nonzero_product(
            &mut pair,
            SparseOperands { a: &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0], depth: 2, m: &m, ld: 1 },
            false,
        )
        .unwrap();
        assert!(pair[3].is_nan() && pair[4].is_infinite(), "{:?}: {pair:?}", k.path());
    }
}

/// `sparse_forward` on views whose rows do not lie back to back (a block
/// of a wider output, inputs with a wider row stride), which it multiplies
/// a row at a time, gives the bits of the same product over contiguous
/// rows, which it multiplies together, with and without an activation;
/// the columns beside the block are left as they were.
#[test]
fn sparse_forward_gives_the_same_bits_on_strided_views() {
    let mut rng = Rng::new(11);
    let k = Kernels::active();
    let (rows, inputs, cols, wide) = (7, 50, 20, 29);
    let x = mostly_zeros(&mut rng, rows * inputs, 0.2);
    let w: Vec<f32> = (0..inputs * cols).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..cols).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut x_wide = vec![9.0f32; rows * (inputs + 3)];
    for (r, row) in x.chunks(inputs).enumerate() {
        x_wide[r * (inputs + 3)..][..inputs].copy_from_slice(row);
    }
    let (xm, wm) = (MatRef::new(&x, rows, inputs).unwrap(), MatRef::new(&w, inputs, cols).unwrap());
    let x_strided = MatRef::with_strides(&x_wide, rows, inputs, Strides { row: inputs + 3, col: 1 }).unwrap();
    for act in [None, Some(Activation::Relu), Some(Activation::Sigmoid)] {
        let mut want = vec![0.0f32; rows * cols];
        sparse_forward(MatMut::new(&mut want, rows, cols).unwrap(), xm, ForwardParams { w: wm, b: &b, act }, &k)
            .unwrap();
        for inp in [xm, x_strided] {
            let mut got = vec![5.0f32; rows * wide];
            let view = MatMut::with_row_stride(&mut got, rows, cols, wide).unwrap();
            sparse_forward(view, inp, ForwardParams { w: wm, b: &b, act }, &k).unwrap();
            for r in 0..rows {
                let (block, beside) = got[r * wide..(r + 1) * wide].split_at(cols);
                let same = block.iter().zip(&want[r * cols..][..cols]).all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(same, "{act:?} row {r}: {block:?} against {:?}", &want[r * cols..][..cols]);
                assert!(beside.iter().all(|&v| v == 5.0), "{act:?} row {r}: wrote beside the block");
            }
        }
    }
}

/// `count_nonzeros` counts NaN and not ±0, on every path, for lengths
/// around the vector widths.
#[test]
fn count_nonzeros_matches_its_twin() {
    let mut rng = Rng::new(9);
    for k in paths() {
        for n in 0..70 {
            let mut x = mostly_zeros(&mut rng, n, 0.3);
            if n > 3 {
                x[n / 2] = f32::NAN;
            }
            let want = x.iter().filter(|v| **v != 0.0).count();
            assert_eq!(k.count_nonzeros(&x), want, "{:?} n {n}", k.path());
            assert_eq!(scalar().count_nonzeros(&x), want);
        }
    }
}

/// Shapes that do not fit are errors, never a panic or a read out of
/// bounds.
#[test]
fn nonzero_product_refuses_shapes_that_do_not_fit() {
    for k in paths() {
        let (a, m) = ([1.0f32; 6], [1.0f32; 12]);
        let mut out = [0.0f32; 4];
        assert!(
            k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 0, m: &m, ld: 4 }, false).is_err(),
            "depth 0"
        );
        assert!(
            k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 4, m: &m, ld: 4 }, false).is_err(),
            "a not whole rows"
        );
        assert!(
            k.nonzero_product(&mut out[..3], SparseOperands { a: &a, depth: 3, m: &m, ld: 4 }, false).is_err(),
            "out not whole rows"
        );
        // Two lines of two columns: row 2 of m at stride 5 ends at 12.
        assert!(k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 3, m: &m, ld: 5 }, false).is_ok());
        assert!(
            k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 3, m: &m, ld: 6 }, false).is_err(),
            "m too short for its stride"
        );
        assert!(
            k.nonzero_product(&mut out, SparseOperands { a: &a, depth: 3, m: &m, ld: usize::MAX }, false).is_err(),
            "stride overflows"
        );
    }
}

/// The gradients of a batch whose rows are mostly zeros match the f64
/// oracle to 1e-4: every head, shards all sparse, all dense, mixed (so that
/// a tile adds a sparse shard's term to a dense one's and the other way),
/// a shard of all zeros, and several threads.
#[test]
fn gradients_on_mostly_zero_inputs_match_the_oracle() {
    let sizes = [70, 33, 9, 4];
    for head in Head::ALL {
        let m = mlp(&sizes, Activation::Sigmoid, head, 31);
        let r = RefMlp::from_mlp(&m);
        // (rows, shard rows, threads, rows from which the inputs are dense)
        for (rows, shard_rows, threads, dense_from) in
            [(30, 0, 1, 30), (30, 8, 3, 30), (30, 8, 2, 16), (30, 8, 2, 0), (29, 10, 3, 10)]
        {
            let config =
                TrainConfig { batch_size: 32, shard_rows, threads, min_parallel_flops: 0.0, ..TrainConfig::default() };
            let mut tr = Trainer::new(m.clone(), config).unwrap();
            let (mut x, t) = common::batch(head, rows, sizes[0], sizes[3], rows as u64 + 3);
            let mut rng = Rng::new(rows as u64);
            x[..dense_from * sizes[0]].copy_from_slice(&mostly_zeros(&mut rng, dense_from * sizes[0], 0.15));
            if shard_rows == 10 {
                x[..10 * sizes[0]].fill(0.0);
            }
            let loss = tr.compute_gradients(&x, &t, rows).unwrap();
            let (want, gw, gb) = r.grad(&to_f64(&x), &to_f64(&t), rows);
            let what = format!("{head} rows {rows} shards of {shard_rows} on {threads}, dense from {dense_from}");
            assert!(((loss as f64) - want).abs() <= 1e-4 * want.abs().max(1e-6), "{what}: loss {loss} vs {want}");
            common::assert_gradients(&what, &tr, &gw, &gb);
        }
    }
}

/// A predictor given mostly-zero inputs (its first layer then skips the
/// zeros, decided for the whole call) gives the oracle's outputs, the same
/// bits on 1, 2 and 3 threads, and the trainer's outputs for the same rows.
#[test]
fn predictions_on_mostly_zero_inputs_match_the_oracle_on_any_thread_count() {
    let sizes = [300, 40, 6];
    let m = mlp(&sizes, Activation::Relu, Head::Softmax, 41);
    let r = RefMlp::from_mlp(&m);
    let rows = 700;
    let (mut x, t) = common::batch(Head::Softmax, rows, sizes[0], sizes[2], 43);
    common::sparsify(&mut x, sizes[0], 0..rows, 44);
    let want = r.head_rows(r.forward(&to_f64(&x), rows).last().unwrap(), &to_f64(&t), rows).0;
    let mut first = None;
    for threads in [1, 2, 3] {
        let mut p = backprop::Predictor::with_threads(&m, threads).unwrap();
        let mut y = vec![f32::NAN; rows * sizes[2]];
        p.predict(&x, rows, &mut y).unwrap();
        common::assert_rel(&format!("{threads} threads"), &y, &want);
        let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
        assert_eq!(first.get_or_insert(bits.clone()), &bits, "{threads} threads");
    }
    let config = TrainConfig { batch_size: 64, min_parallel_flops: 0.0, ..TrainConfig::default() };
    let mut tr = Trainer::new(m, config).unwrap();
    tr.compute_gradients(&x[..64 * sizes[0]], &t[..64 * sizes[2]], 64).unwrap();
    let trained: Vec<u32> = tr.last_outputs().flatten().map(|v| v.to_bits()).collect();
    assert_eq!(trained, first.unwrap()[..64 * sizes[2]], "the trainer's outputs for the first 64 rows");
}
