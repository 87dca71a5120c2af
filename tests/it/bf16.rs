//! The bf16 products on every path this CPU runs them on (VDPBF16PS where
//! it has AVX512-BF16, the f32 kernels on rounded operands everywhere),
//! bit for bit against the plain twin `bf16::product`: real values (so
//! every rounding of the operands and of the sums counts), all four
//! layouts, odd and even k, sizes around the tile widths and past every
//! blocking constant, B and A packed ahead or as views, C prefilled with
//! NaN.

use crate::common::mat::{layout, view};
use backprop::kernels::gemm::bf16::{self, round_bf16};
use backprop::kernels::gemm::{
    gemm, gemm_layer, AOperand, BOperand, Dest, GemmPath, GemmScratch, MatMut, MatRef, Mode, PackedA, PackedB,
    Precision, Strides,
};
use backprop::rng::Rng;

/// Every bf16 mode this CPU runs.
fn modes() -> Vec<Mode> {
    let all = GemmPath::ALL.into_iter().map(|path| Mode { path, precision: Precision::Bf16 });
    all.filter(|m| m.is_supported()).collect()
}

fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// A product's shape and layout.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    accumulate: bool,
}

fn check(mode: Mode, case: Case, rng: &mut Rng) {
    let Case { m, k, n, ta, tb, accumulate } = case;
    let (a, b, c0) = (values(rng, m * k), values(rng, k * n), values(rng, m * n));
    let mut want = c0.clone();
    bf16::product(&a, &b, &mut want, (m, k, n), accumulate);
    let (ad, bd) = (layout(&a, m, k, ta), layout(&b, k, n, tb));
    let mut packed = PackedB::new();
    packed.pack(view(&bd, k, n, tb), mode).unwrap();
    let mut packed_a = PackedA::new();
    packed_a.pack(view(&ad, m, k, ta), mode).unwrap();
    let ldc = n + 3;
    for (b_ahead, a_ahead) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut c = vec![f32::NAN; m * ldc];
        if accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].copy_from_slice(&c0[i * n..i * n + n]);
            }
        }
        let cm = MatMut::with_row_stride(&mut c, m, n, ldc).unwrap();
        let bo = if b_ahead { BOperand::from(&packed) } else { BOperand::strided(view(&bd, k, n, tb), mode) };
        let ao = if a_ahead { AOperand::from(&packed_a) } else { AOperand::from(view(&ad, m, k, ta)) };
        gemm(ao, bo, Dest { c: cm, accumulate }, &mut GemmScratch::new()).unwrap();
        for i in 0..m {
            for j in 0..ldc {
                let got = c[i * ldc + j];
                if j < n {
                    let w = want[i * n + j];
                    assert!(
                        got.to_bits() == w.to_bits(),
                        "{mode} {case:?} b_ahead={b_ahead} a_ahead={a_ahead} at ({i},{j}): {got:e} != {w:e}"
                    );
                } else {
                    assert!(got.is_nan(), "{mode}: wrote past the end of row {i}");
                }
            }
        }
    }
}

#[test]
fn every_bf16_mode_matches_the_twin_bit_for_bit() {
    let mut rng = Rng::new(31);
    assert!(!modes().is_empty(), "the portable path runs bf16 everywhere");
    for mode in modes() {
        for m in 0..=40 {
            for &(k, n) in &[(1, 1), (2, 17), (7, 33), (16, 16), (33, 10), (40, 40), (19, 60), (0, 5)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    check(mode, Case { m, k, n, ta, tb, accumulate: m % 2 == 1 }, &mut rng);
                }
            }
        }
        for n in 0..=40 {
            check(mode, Case { m: 13, k: 9, n, ta: false, tb: false, accumulate: false }, &mut rng);
            check(mode, Case { m: 13, k: 10, n, ta: true, tb: true, accumulate: true }, &mut rng);
        }
    }
}

#[test]
fn bf16_products_past_every_block_boundary_match_the_twin() {
    let mut rng = Rng::new(32);
    for mode in modes() {
        // k > KC (1024 in bf16, and twice over) and odd, m > MC (264), n > NC (1024).
        let case = |m, k, n, ta, tb, accumulate| Case { m, k, n, ta, tb, accumulate };
        check(mode, case(101, 1101, 1050, false, false, false), &mut rng);
        check(mode, case(270, 1090, 40, true, true, true), &mut rng);
        check(mode, case(37, 2085, 45, true, false, true), &mut rng);
        check(mode, case(30, 1025, 70, false, true, false), &mut rng);
    }
}

/// A bf16 product cut along k at even places and run piece after piece
/// with `accumulate` gives the uncut product's bits (the trainer's shards
/// and ranks cut the weight gradient's rows so).
#[test]
fn a_bf16_product_cut_at_even_k_continues_one_chain() {
    let (m, k, n) = (13, 1301, 37);
    let mut rng = Rng::new(33);
    let (a, b) = (values(&mut rng, m * k), values(&mut rng, k * n));
    let mut want = vec![0.0f32; m * n];
    bf16::product(&a, &b, &mut want, (m, k, n), false);
    for mode in modes() {
        let mut pieces = vec![f32::NAN; m * n];
        let mut scratch = GemmScratch::new();
        for w in [0, 6, 300, 302, 1156, 1301].windows(2) {
            let (p0, p1) = (w[0], w[1]);
            let ap = MatRef::with_strides(&a[p0..], m, p1 - p0, Strides { row: k, col: 1 }).unwrap();
            let mut packed = PackedB::new();
            packed.pack(MatRef::new(&b[p0 * n..p1 * n], p1 - p0, n).unwrap(), mode).unwrap();
            let dest = Dest { c: MatMut::new(&mut pieces, m, n).unwrap(), accumulate: p0 > 0 };
            gemm(ap, &packed, dest, &mut scratch).unwrap();
        }
        assert!(pieces == want, "{mode}: the pieces do not continue the chain");
    }
}

/// `gemm_layer` in bf16: each depth block of 1024 values of k is the
/// twin's chain from 0, added to C in block order.
#[test]
fn bf16_gemm_layer_adds_each_depth_block_in_order() {
    const KC: usize = 1024;
    let (m, k, n) = (20, 2 * KC + 37, 50);
    let mut rng = Rng::new(34);
    let (a, b) = (values(&mut rng, m * k), values(&mut rng, k * n));
    let mut want = vec![0.0f32; m * n];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let ab: Vec<f32> = (0..m).flat_map(|i| a[i * k + p0..i * k + p0 + kc].to_vec()).collect();
        let mut part = vec![0.0f32; m * n];
        bf16::product(&ab, &b[p0 * n..(p0 + kc) * n], &mut part, (m, kc, n), false);
        for (w, p) in want.iter_mut().zip(&part) {
            *w = if p0 == 0 { *p } else { *w + *p };
        }
    }
    for mode in modes() {
        let mut c = vec![f32::NAN; m * n];
        let bo = BOperand::strided(MatRef::new(&b, k, n).unwrap(), mode);
        gemm_layer(MatRef::new(&a, m, k).unwrap(), bo, MatMut::new(&mut c, m, n).unwrap(), &mut GemmScratch::new())
            .unwrap();
        assert!(c == want, "{mode}: gemm_layer is not the blocks' sums in order");
    }
}

/// On VDPBF16PS, sums below 2⁻¹²⁶ flush to zero, as the twin's do:
/// operands near 2⁻⁶⁴ make products and sums that cross into the
/// subnormal range. (The rounded operands on the f32 kernels keep the
/// subnormal sums: the one place the two differ.)
#[test]
fn native_bf16_flushes_subnormal_sums_as_the_twin_does() {
    let Some(mode) = modes().into_iter().find(|m| m.native_bf16()) else {
        eprintln!("no AVX512-BF16 on this CPU: nothing to check");
        return;
    };
    let mut rng = Rng::new(35);
    let (m, k, n) = (12, 64, 32);
    let tiny = |rng: &mut Rng, n: usize| -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0) * 2f32.powi(-63 + rng.below(3) as i32)).collect()
    };
    let (a, b) = (tiny(&mut rng, m * k), tiny(&mut rng, k * n));
    let mut want = vec![0.0f32; m * n];
    bf16::product(&a, &b, &mut want, (m, k, n), false);
    assert!(want.iter().any(|&v| v != 0.0), "some sums stay normal");
    let mut kept = vec![0.0f32; m * n];
    for (i, c) in kept.chunks_mut(n).enumerate() {
        for (j, c) in c.iter_mut().enumerate() {
            for p in (0..k).step_by(2) {
                let x = |p: usize| (round_bf16(a[i * k + p]), round_bf16(b[p * n + j]));
                let ((a1, b1), (a0, b0)) = (x(p + 1), x(p));
                *c = a0.mul_add(b0, a1.mul_add(b1, *c));
            }
        }
    }
    assert!(kept != want, "the data crosses the subnormal range, where flushing changes sums");
    let mut c = vec![f32::NAN; m * n];
    let bo = BOperand::strided(MatRef::new(&b, k, n).unwrap(), mode);
    gemm(MatRef::new(&a, m, k).unwrap(), bo, MatMut::new(&mut c, m, n).unwrap(), &mut GemmScratch::new()).unwrap();
    for (i, (g, w)) in c.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "at {i}: {g:e} != {w:e}");
    }
}

/// The rounding: bf16 values stay, others go to the nearest (ties to
/// even), and the products run on rounded operands only: a value just
/// above 1 multiplies as 1.
#[test]
fn operands_are_rounded_to_bf16_before_they_multiply() {
    assert_eq!(round_bf16(1.0 + 2f32.powi(-9)), 1.0);
    assert_eq!(round_bf16(-3.0), -3.0);
    for mode in modes() {
        let (a, b) = ([1.0 + 2f32.powi(-9); 2], [1.0f32, 1.0]);
        let mut c = [f32::NAN];
        let bo = BOperand::strided(MatRef::new(&b, 2, 1).unwrap(), mode);
        gemm(MatRef::new(&a, 1, 2).unwrap(), bo, MatMut::new(&mut c, 1, 1).unwrap(), &mut GemmScratch::new()).unwrap();
        assert_eq!(c[0], 2.0, "{mode}");
    }
}

/// Operands packed in one precision do not run with the other's.
#[test]
fn operands_of_different_precisions_do_not_mix() {
    let path = GemmPath::Portable;
    let (a, b) = ([1.0f32; 4], [1.0f32; 4]);
    let mut pa = PackedA::new();
    pa.pack(MatRef::new(&a, 2, 2).unwrap(), Mode { path, precision: Precision::Bf16 }).unwrap();
    let mut c = [0.0f32; 4];
    let bo = BOperand::strided(MatRef::new(&b, 2, 2).unwrap(), path);
    let e = gemm(&pa, bo, MatMut::new(&mut c, 2, 2).unwrap(), &mut GemmScratch::new()).unwrap_err();
    assert!(e.to_string().contains("packed for portable bf16"), "{e}");
}
