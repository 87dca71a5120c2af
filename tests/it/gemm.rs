//! The GEMM wrapper on every path this CPU runs, against a naive f64 triple
//! loop: all four layouts (transposes by strides), accumulate or not, sizes
//! 0..=40 around the tile widths and sizes past every blocking constant.
//! Inputs are small integers, so every sum is exact and results must be
//! equal; outputs start as NaN, and the gap between rows of C must stay NaN.

use crate::common::mat::{layout, view};
use backprop::kernels::gemm::{
    gemm, gemm_layer, AOperand, BOperand, Dest, GemmPath, GemmScratch, MatMut, MatRef, Mode, PackedA, PackedB,
    Precision, Strides,
};
use backprop::rng::Rng;

fn paths() -> Vec<GemmPath> {
    GemmPath::ALL.into_iter().filter(|p| p.is_supported()).collect()
}

/// Every path this CPU runs, in both precisions where it has them (small
/// integers are exact in bf16 too).
fn modes() -> Vec<Mode> {
    let all = GemmPath::ALL.into_iter().flat_map(|path| Precision::ALL.map(|precision| Mode { path, precision }));
    all.filter(|m| m.is_supported()).collect()
}

fn ints(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.below(9) as f32 - 4.0).collect()
}

#[allow(clippy::too_many_arguments)]
fn check(path: Mode, m: usize, k: usize, n: usize, ta: bool, tb: bool, accumulate: bool, rng: &mut Rng) {
    let a = ints(rng, m * k);
    let b = ints(rng, k * n);
    let c0 = ints(rng, m * n);
    let ldc = n + 3;
    let mut want = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = if accumulate { c0[i * n + j] as f64 } else { 0.0 };
            for p in 0..k {
                s += a[i * k + p] as f64 * b[p * n + j] as f64;
            }
            want[i * n + j] = s;
        }
    }
    let (ad, bd) = (layout(&a, m, k, ta), layout(&b, k, n, tb));
    let mut packed = PackedB::new();
    packed.pack(view(&bd, k, n, tb), path).unwrap();
    let mut packed_a = PackedA::new();
    packed_a.pack(view(&ad, m, k, ta), path).unwrap();
    // B packed ahead or a view packed block by block; A likewise.
    for (prepacked, a_packed) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut c = vec![f32::NAN; m * ldc];
        if accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].copy_from_slice(&c0[i * n..i * n + n]);
            }
        }
        let cm = MatMut::with_row_stride(&mut c, m, n, ldc).unwrap();
        let b = if prepacked { BOperand::from(&packed) } else { BOperand::strided(view(&bd, k, n, tb), path) };
        let a = if a_packed { AOperand::from(&packed_a) } else { AOperand::from(view(&ad, m, k, ta)) };
        gemm(a, b, Dest { c: cm, accumulate }, &mut GemmScratch::new()).unwrap();
        for i in 0..m {
            for j in 0..ldc {
                let got = c[i * ldc + j];
                if j < n {
                    assert_eq!(
                        got as f64,
                        want[i * n + j],
                        "{path} {m}×{k}×{n} ta={ta} tb={tb} acc={accumulate} prepacked={prepacked} a_packed={a_packed} at ({i},{j})"
                    );
                } else {
                    assert!(got.is_nan(), "{path}: wrote past the end of row {i}");
                }
            }
        }
    }
}

#[test]
fn small_sizes_all_layouts_exact() {
    let mut rng = Rng::new(21);
    for path in modes() {
        for m in 0..=40 {
            for &(k, n) in &[(1, 1), (7, 33), (16, 16), (33, 10), (40, 40), (0, 5)] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    check(path, m, k, n, ta, tb, m % 2 == 1, &mut rng);
                }
            }
        }
        for n in 0..=40 {
            check(path, 13, 9, n, false, false, false, &mut rng);
            check(path, 13, 9, n, true, true, true, &mut rng);
        }
    }
}

#[test]
fn large_sizes_cross_every_block_boundary() {
    let mut rng = Rng::new(22);
    for path in modes() {
        // k > KC (256), m > MC (264), n > NC (1024), none a tile multiple.
        check(path, 101, 300, 1050, false, false, false, &mut rng);
        check(path, 270, 290, 1040, true, true, true, &mut rng);
        check(path, 97, 517, 45, true, false, true, &mut rng);
        check(path, 130, 260, 70, false, true, false, &mut rng);
    }
}

/// A value of C does not depend on how C is cut: computing a block of rows
/// or of columns alone gives the same bits as the whole product. This is
/// what makes results independent of shards and threads.
#[test]
fn results_do_not_depend_on_tiling() {
    let mut rng = Rng::new(23);
    let (m, k, n) = (70, 600, 90);
    let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for path in paths() {
        let mut scratch = GemmScratch::new();
        let mut packed = PackedB::new();
        let mut full = vec![0.0; m * n];
        let am = MatRef::new(&a, m, k).unwrap();
        let bm = MatRef::new(&b, k, n).unwrap();
        packed.pack(bm, path).unwrap();
        gemm(am, &packed, MatMut::new(&mut full, m, n).unwrap(), &mut scratch).unwrap();
        if path == backprop::kernels::gemm::gemm_path() {
            // B as a strided view (packed block by block for the
            // process's path) agrees.
            let mut one_off = vec![f32::NAN; m * n];
            gemm(am, bm, MatMut::new(&mut one_off, m, n).unwrap(), &mut scratch).unwrap();
            assert_eq!(one_off, full, "{path}: strided B differs");
        }
        // Rows 17..53 alone.
        let rows = MatRef::new(&a[17 * k..53 * k], 36, k).unwrap();
        let mut part = vec![0.0; 36 * n];
        gemm(rows, &packed, MatMut::new(&mut part, 36, n).unwrap(), &mut scratch).unwrap();
        assert_eq!(&part[..], &full[17 * n..53 * n], "{path}: row block differs");
        // The same rows with B as a view, packed as the loop goes.
        gemm(rows, BOperand::strided(bm, path), MatMut::new(&mut part, 36, n).unwrap(), &mut scratch).unwrap();
        assert_eq!(&part[..], &full[17 * n..53 * n], "{path}: strided B differs");
        // Columns 5..50 alone.
        let cols = MatRef::with_strides(&b[5..], k, 45, Strides { row: n, col: 1 }).unwrap();
        let mut pb = PackedB::new();
        pb.pack(cols, path).unwrap();
        let mut part = vec![0.0; m * 45];
        gemm(am, &pb, MatMut::new(&mut part, m, 45).unwrap(), &mut scratch).unwrap();
        for i in 0..m {
            assert_eq!(&part[i * 45..i * 45 + 45], &full[i * n + 5..i * n + 50], "{path}: column block differs");
        }
    }
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let a = vec![0.0; 12];
    assert!(MatRef::new(&a, 3, 5).is_err());
    assert!(MatRef::with_strides(&a, 3, 4, Strides { row: 5, col: 1 }).is_err());
    assert!(MatRef::with_strides(&a, usize::MAX, 2, Strides { row: usize::MAX, col: 1 }).is_err());
    let mut c = vec![0.0; 12];
    assert!(MatMut::with_row_stride(&mut c, 3, 4, 3).is_err());
    let am = MatRef::new(&a, 3, 4).unwrap();
    let mut packed = PackedB::new();
    let mut scratch = GemmScratch::new();
    // Never packed.
    assert!(gemm(am, &packed, MatMut::new(&mut c, 3, 4).unwrap(), &mut scratch).is_err());
    // Inner dimensions disagree (A is 3×4, B 3×4).
    packed.pack(MatRef::new(&a, 3, 4).unwrap(), GemmPath::Portable).unwrap();
    assert!(gemm(am, &packed, MatMut::new(&mut c, 3, 4).unwrap(), &mut scratch).is_err());
    // C has the wrong shape.
    packed.pack(MatRef::new(&a, 4, 3).unwrap(), GemmPath::Portable).unwrap();
    assert!(gemm(am, &packed, MatMut::new(&mut c, 4, 3).unwrap(), &mut scratch).is_err());
    assert!(gemm(am, &packed, MatMut::new(&mut c[..9], 3, 3).unwrap(), &mut scratch).is_ok());
    // A packed for another path than B's: refused, not misread.
    let other = GemmPath::ALL.into_iter().find(|p| p.is_supported() && *p != GemmPath::Portable).unwrap();
    let mut pa = PackedA::new();
    pa.pack(am, other).unwrap();
    assert!(gemm(&pa, &packed, MatMut::new(&mut c[..9], 3, 3).unwrap(), &mut scratch).is_err());
    assert!(gemm(&PackedA::new(), &packed, MatMut::new(&mut c[..9], 3, 3).unwrap(), &mut scratch).is_err());
}

/// Each element of C is one chain over k (`c ← a·b + c` in order, from 0):
/// a product cut anywhere along k and run piece after piece with
/// `accumulate` gives the uncut product's bits, which are the chain's,
/// fused on the AVX paths and multiply-then-add on the portable one.
/// Values are not small integers here, so every rounding counts.
#[test]
fn a_product_cut_along_k_continues_one_chain() {
    let (m, k, n) = (13, 700, 37);
    let mut rng = Rng::new(11);
    let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let cuts = [0, 5, 300, 301, 557, 700];
    let blocked = paths().into_iter().filter(|&p| p != GemmPath::MatrixMultiply);
    for path in blocked {
        let fused = path != GemmPath::Portable;
        let mut want = vec![0.0f32; m * n];
        for (i, w) in want.chunks_mut(n).enumerate() {
            for (j, w) in w.iter_mut().enumerate() {
                for p in 0..k {
                    let (x, y) = (a[i * k + p], b[p * n + j]);
                    *w = if fused { x.mul_add(y, *w) } else { *w + x * y };
                }
            }
        }
        let mut scratch = GemmScratch::new();
        let mut whole = vec![f32::NAN; m * n];
        let am = MatRef::new(&a, m, k).unwrap();
        let bm = MatRef::new(&b, k, n).unwrap();
        gemm(am, BOperand::strided(bm, path), MatMut::new(&mut whole, m, n).unwrap(), &mut scratch).unwrap();
        assert!(whole == want, "{path}: the uncut product is not the chain");
        let mut pieces = vec![f32::NAN; m * n];
        for w in cuts.windows(2) {
            let (p0, p1) = (w[0], w[1]);
            let ap = MatRef::with_strides(&a[p0..], m, p1 - p0, Strides { row: k, col: 1 }).unwrap();
            let bp = MatRef::new(&b[p0 * n..p1 * n], p1 - p0, n).unwrap();
            let mut packed = PackedB::new();
            packed.pack(bp, path).unwrap();
            gemm(ap, &packed, Dest { c: MatMut::new(&mut pieces, m, n).unwrap(), accumulate: p0 > 0 }, &mut scratch)
                .unwrap();
        }
        assert!(pieces == want, "{path}: the pieces do not continue the chain");
    }
}

/// `gemm_layer` sums each depth block of 256 values of k from zero and
/// adds it to C in block order: its oracle is that sum, on every blocked
/// path (fused on the AVX paths), whichever form B comes in; on small
/// integers it is the exact product.
#[test]
fn gemm_layer_adds_each_depth_block_in_order() {
    const KC: usize = 256;
    let (m, k, n) = (13, 700, 37);
    let mut rng = Rng::new(12);
    let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for path in paths().into_iter().filter(|&p| p != GemmPath::MatrixMultiply) {
        let fused = path != GemmPath::Portable;
        let mut want = vec![0.0f32; m * n];
        for (i, w) in want.chunks_mut(n).enumerate() {
            for (j, w) in w.iter_mut().enumerate() {
                for p0 in (0..k).step_by(KC) {
                    let mut block = 0.0f32;
                    for p in p0..(p0 + KC).min(k) {
                        let (x, y) = (a[i * k + p], b[p * n + j]);
                        block = if fused { x.mul_add(y, block) } else { block + x * y };
                    }
                    *w = if p0 == 0 { block } else { *w + block };
                }
            }
        }
        let (am, bm) = (MatRef::new(&a, m, k).unwrap(), MatRef::new(&b, k, n).unwrap());
        let mut packed = PackedB::new();
        packed.pack(bm, path).unwrap();
        for b in [BOperand::strided(bm, path), BOperand::from(&packed)] {
            let mut got = vec![f32::NAN; m * n];
            gemm_layer(am, b, MatMut::new(&mut got, m, n).unwrap(), &mut GemmScratch::new()).unwrap();
            assert!(got == want, "{path}: not the depth blocks' sums added in order");
        }
        let ints: Vec<f32> = a.iter().map(|v| (v * 4.0).round()).collect();
        let bints: Vec<f32> = b.iter().map(|v| (v * 4.0).round()).collect();
        let (mut exact, mut got) = (vec![0.0f32; m * n], vec![f32::NAN; m * n]);
        let (ai, bi) = (MatRef::new(&ints, m, k).unwrap(), MatRef::new(&bints, k, n).unwrap());
        gemm(ai, BOperand::strided(bi, path), MatMut::new(&mut exact, m, n).unwrap(), &mut GemmScratch::new()).unwrap();
        gemm_layer(ai, BOperand::strided(bi, path), MatMut::new(&mut got, m, n).unwrap(), &mut GemmScratch::new())
            .unwrap();
        assert!(got == exact, "{path}: exact sums differ from gemm's");
    }
}
