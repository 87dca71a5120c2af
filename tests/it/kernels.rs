//! Every vector kernel against its scalar twin, on every path this CPU runs,
//! for lengths 0..=40 around the 8- and 16-lane widths. Outputs are written
//! into slices cut from NaN-filled buffers, so a missed write leaves a NaN
//! and an overrun clobbers a guard.

use crate::common::kernels::{paths, scalar, Guarded};
use backprop::kernels::{HeadRows, Kernels, SimdPath};
use backprop::rng::Rng;

fn random(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi)).collect()
}

/// |a - b| ≤ rel·max(|a|,|b|) + abs, NaN only against NaN.
fn close(a: f32, b: f32, rel: f32, abs: f32) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()) + abs
}

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(!g.is_nan() || w.is_nan(), "{what}[{i}]: left unwritten (NaN), want {w}");
        assert!(close(g, w, rel, abs), "{what}[{i}]: got {g:e}, want {w:e}");
    }
}

type RowKernel = fn(&Kernels, &mut [f32], &[f32]) -> backprop::Result<()>;

/// Shapes (rows, cols) covering 0..=40 columns and a few row counts.
fn shapes() -> impl Iterator<Item = (usize, usize)> {
    (1..=40).flat_map(|c| [0usize, 1, 3].into_iter().map(move |r| (r, c)))
}

fn check_row_kernel(name: &str, f: RowKernel, rel: f32, lo: f32, hi: f32) {
    let mut rng = Rng::new(11);
    for k in paths() {
        for (rows, cols) in shapes() {
            let x = random(&mut rng, rows * cols, lo, hi);
            let b = random(&mut rng, cols, lo / 4.0, hi / 4.0);
            let mut want = x.clone();
            f(&scalar(), &mut want, &b).unwrap();
            let mut got = Guarded::from(&x);
            f(&k, got.body_mut(), &b).unwrap();
            let what = format!("{name} {:?} {rows}×{cols}", k.path());
            got.assert_guards(&what);
            assert_close(&what, got.body(), &want, rel, 1e-37);
        }
    }
}

#[test]
fn bias_activations_match_their_twins() {
    check_row_kernel("bias_identity", Kernels::bias_identity, 0.0, -5.0, 5.0);
    check_row_kernel("bias_relu", Kernels::bias_relu, 0.0, -5.0, 5.0);
    check_row_kernel("bias_sigmoid", Kernels::bias_sigmoid, 4e-7, -30.0, 30.0);
    check_row_kernel("bias_tanh", Kernels::bias_tanh, 4e-7, -6.0, 6.0);
    check_row_kernel("softmax_rows", Kernels::softmax_rows, 2e-6, -20.0, 20.0);
    check_row_kernel("bias_exp", Kernels::bias_exp, 2.5e-7, -100.0, 100.0);
}

#[test]
fn backward_kernels_equal_their_twins_exactly() {
    let kernels: [(&str, RowKernel); 3] = [
        ("sigmoid_backward", Kernels::sigmoid_backward),
        ("tanh_backward", Kernels::tanh_backward),
        ("relu_backward", Kernels::relu_backward),
    ];
    let mut rng = Rng::new(12);
    for k in paths() {
        for n in 0..=40 {
            let d = random(&mut rng, n, -2.0, 2.0);
            let h = random(&mut rng, n, -1.0, 1.0);
            for (name, f) in kernels {
                let mut want = d.clone();
                f(&scalar(), &mut want, &h).unwrap();
                let mut got = Guarded::from(&d);
                f(&k, got.body_mut(), &h).unwrap();
                got.assert_guards(name);
                assert_close(&format!("{name} {:?} n={n}", k.path()), got.body(), &want, 0.0, 0.0);
            }
        }
    }
}

#[test]
fn col_sums_match_their_twin() {
    let mut rng = Rng::new(13);
    for k in paths() {
        for (rows, cols) in shapes() {
            let m = random(&mut rng, rows * cols, -3.0, 3.0);
            let start = random(&mut rng, cols, -1.0, 1.0);
            let mut want = start.clone();
            scalar().col_sums(&mut want, &m).unwrap();
            let mut got = Guarded::from(&start);
            k.col_sums(got.body_mut(), &m).unwrap();
            got.assert_guards("col_sums");
            assert_close(&format!("col_sums {:?} {rows}×{cols}", k.path()), got.body(), &want, 0.0, 0.0);
        }
    }
}

type HeadKernel = fn(&Kernels, HeadRows<'_>) -> backprop::Result<()>;

fn one_hot_rows(rng: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        t[r * cols + rng.below(cols as u64) as usize] = 1.0;
    }
    t
}

#[test]
fn fused_heads_match_their_twins() {
    let heads: [(&str, HeadKernel, f32); 4] = [
        ("softmax_loss", Kernels::softmax_loss, 2e-6),
        ("logistic_loss", Kernels::logistic_loss, 2e-6),
        ("linear_loss", Kernels::linear_loss, 1e-6),
        ("poisson_loss", Kernels::poisson_loss, 2e-6),
    ];
    let mut rng = Rng::new(14);
    for k in paths() {
        for (rows, cols) in shapes() {
            let s = random(&mut rng, rows * cols, -12.0, 12.0);
            let b = random(&mut rng, cols, -1.0, 1.0);
            // Row weights, some 0: each row's δ is (y - t)·0.25·w.
            let ws: Vec<f32> = (0..rows).map(|r| [0.0, 1.0, 2.5, 0.125][r % 4]).collect();
            for (name, f, rel) in heads {
                let t = if name == "softmax_loss" {
                    one_hot_rows(&mut rng, rows, cols)
                } else {
                    random(&mut rng, rows * cols, 0.0, 1.0)
                };
                let (mut ys, mut ds, mut ls) = (s.clone(), vec![0.0; s.len()], vec![0.0; rows]);
                f(
                    &scalar(),
                    HeadRows {
                        s: &mut ys,
                        b: &b,
                        t: &t,
                        delta: &mut ds,
                        loss: &mut ls,
                        scale: 0.25,
                        weights: Some(&ws),
                    },
                )
                .unwrap();
                let mut y = Guarded::from(&s);
                let mut d = Guarded::nan(s.len());
                let mut l = Guarded::nan(rows);
                let head = HeadRows {
                    s: y.body_mut(),
                    b: &b,
                    t: &t,
                    delta: d.body_mut(),
                    loss: l.body_mut(),
                    scale: 0.25,
                    weights: Some(&ws),
                };
                f(&k, head).unwrap();
                let what = format!("{name} {:?} {rows}×{cols}", k.path());
                for g in [&y, &d, &l] {
                    g.assert_guards(&what);
                }
                assert_close(&format!("{what} y"), y.body(), &ys, rel, 1e-30);
                assert_close(&format!("{what} delta"), d.body(), &ds, rel, 1e-7);
                assert_close(&format!("{what} loss"), l.body(), &ls, 1e-5, 1e-6);
            }
        }
    }
}

/// The sigmoid of every path, the scalar twin included, is within 1e-6
/// relative of the f64 value over [-100, 100]. Below about -87.3 the value
/// is subnormal in f32, whose spacing is 2⁻¹⁴⁹; there the bound is half of
/// that spacing (correct rounding) plus the relative part.
#[test]
fn sigmoid_is_accurate_against_f64_over_minus_100_to_100() {
    let n = 400_001;
    let xs: Vec<f32> = (0..n).map(|i| -100.0 + 200.0 * i as f32 / (n - 1) as f32).collect();
    let zeros = vec![0.0f32; n];
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        let mut y = xs.clone();
        k.bias_sigmoid(&mut y, &zeros).unwrap();
        let mut worst = 0.0f64;
        for (&x, &got) in xs.iter().zip(&y) {
            let exact = 1.0 / (1.0 + (-(x as f64)).exp());
            let err = (got as f64 - exact).abs();
            let bound = 1e-6 * exact + 0.5 * 2f64.powi(-149);
            assert!(err <= bound, "{:?}: σ({x}) = {got:e}, f64 {exact:e}", k.path());
            if exact > f32::MIN_POSITIVE as f64 {
                worst = worst.max(err / exact);
            }
        }
        assert!(worst < 1e-6, "{:?}: worst relative error {worst:e}", k.path());
    }
}

#[test]
fn softmax_rows_sum_to_one() {
    let mut rng = Rng::new(15);
    for k in paths() {
        for cols in [1usize, 2, 7, 10, 16, 33, 100, 1000] {
            let rows = 5;
            let mut y = random(&mut rng, rows * cols, -60.0, 60.0);
            let b = random(&mut rng, cols, -1.0, 1.0);
            k.softmax_rows(&mut y, &b).unwrap();
            for row in y.chunks(cols) {
                let s: f64 = row.iter().map(|&v| v as f64).sum();
                assert!((s - 1.0).abs() <= 1e-6, "{:?} cols={cols}: row sums to {s}", k.path());
                assert!(row.iter().all(|&v| (0.0..=1.0).contains(&v)));
            }
        }
    }
}

#[test]
fn kernels_refuse_wrong_lengths() {
    let k = Kernels::active();
    let mut x = vec![0.0; 7];
    assert!(k.bias_sigmoid(&mut x, &[0.0; 3]).is_err());
    assert!(k.bias_sigmoid(&mut x, &[]).is_err());
    assert!(k.sigmoid_backward(&mut x, &[0.0; 6]).is_err());
    assert!(k.col_sums(&mut x[..3], &[0.0; 8]).is_err());
    let mut d = vec![0.0; 6];
    let mut l = vec![0.0; 2];
    let mut s = vec![0.0; 6];
    let b = [0.0; 3];
    let rows = HeadRows { s: &mut s, b: &b, t: &[0.0; 6], delta: &mut d, loss: &mut l[..1], scale: 1.0, weights: None };
    assert!(k.softmax_loss(rows).is_err());
    let rows = HeadRows { s: &mut s, b: &b, t: &[0.0; 5], delta: &mut d, loss: &mut l, scale: 1.0, weights: None };
    assert!(k.softmax_loss(rows).is_err());
    let rows = HeadRows { s: &mut s, b: &b, t: &[0.0; 6], delta: &mut d, loss: &mut l, scale: 1.0, weights: None };
    assert!(k.softmax_loss(rows).is_ok());
}

/// The sign of zero survives every path as it does in the twins:
/// tanh(-0) = -0 (the vector paths gave +0), ReLU(-0) = -0, σ(±0) = ½.
#[test]
fn signed_zeros_agree_with_the_twins() {
    for k in paths() {
        let mut x = vec![-0.0f32; 19];
        k.bias_tanh(&mut x, &[-0.0]).unwrap();
        assert!(x.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()), "{:?} tanh(-0) = {x:?}", k.path());
        let mut x = vec![-0.0f32; 19];
        k.bias_relu(&mut x, &[-0.0]).unwrap();
        assert!(x.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()), "{:?} relu(-0)", k.path());
        let mut x = vec![0.0f32; 19];
        k.bias_tanh(&mut x, &[0.0]).unwrap();
        assert!(x.iter().all(|v| v.to_bits() == 0), "{:?} tanh(+0)", k.path());
    }
}

/// The squared norm is accumulated in f64: gradients near 1e19 (whose
/// squares sum past the f32 maximum) give a finite, exact-enough norm.
#[test]
fn sum_squares_does_not_overflow_at_large_gradients() {
    for k in paths() {
        for n in [1, 7, 16, 37, 1000] {
            let g = vec![1e19f32; n];
            let want = n as f64 * (1e19f32 as f64).powi(2);
            let got = k.sum_squares(&g);
            assert!(got.is_finite() && (got - want).abs() <= 1e-12 * want, "{:?} n={n}: {got:e}", k.path());
        }
    }
}
