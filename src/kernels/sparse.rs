//! The products that skip zeros, written once over a [`Lane`] (see
//! `kernels::generic`) with plain scalar twins in `kernels::scalar`:
//! `out = a·m` where `a` is mostly zeros (MNIST's digits are about one
//! fifth nonzero), costing one multiply-add per nonzero of `a` rather than
//! one per value. The first layer's forward product `x·W₁` and its weight
//! gradient `xᵀ·δ₁` are such products when the inputs are sparse.
//!
//! Each output value is `Σ_{k: a[k] ≠ 0} a[k]·m[k][j]`, one fused
//! multiply-add per term in increasing `k`, starting from zero or (with
//! `accumulate`) from the value the output holds, so that a product cut
//! into pieces along `k` and run piece after piece is the uncut product's
//! chain, as in the GEMM; the scalar twin does the same, so the paths that
//! fuse (AVX-512, AVX2, scalar) give the same bits.
//!
//! Lines of `a` go in threes ([`GROUP`]), which read each row of `m` once
//! for all three: a position where any line of the group is nonzero is a
//! term of each, so the others add `0·m[k][j]`. That is exactly nothing
//! while `m` is finite (the sum is never -0), and NaN, as in a dense
//! product, where `m[k][j]` is infinite or NaN. On the digits, neighbouring
//! pixels' columns share most of their nonzeros (a pair's positions are
//! 58 % of its two lines' nonzeros): pairs took 0.59-0.95 of the time of
//! one line at a time in the weight gradient's product, and threes
//! 0.74-0.81 of the time of pairs (BENCHMARKS.md). The forward product's
//! lines are samples, which share fewer nonzeros, yet threes of them took
//! 0.70-0.75 of the time of one at a time.

use super::arch::Lane;
use super::SparseOperands;

/// Lines of `a` taken together: each row of `m` is read once for all of
/// them.
pub(crate) const GROUP: usize = 3;

/// Vectors of accumulators per block of output columns for `p` lines at a
/// time: 16 for one line on AVX-512 (8 on AVX2), half that for two or
/// three, which leaves room for the loads (three lines take 24 of
/// AVX-512's 32 registers). Fewer columns left at the end of a line are
/// done in one block of their own width.
const fn block_vectors(lanes: usize, p: usize) -> usize {
    (if lanes >= 16 { 16 } else { 8 }) / if p == 1 { 1 } else { 2 }
}

/// `out[r][j] (+)= Σ_{k: a[r][k] ≠ 0} a[r][k]·m[k·ld + j]` for each of the
/// `lines = a.len() / depth` rows `r` of `a` (`depth` values each) and each
/// column `j < c = out.len() / lines`, lines in [`GROUP`]s (see the
/// module; the last one to two lines together). The chain starts from zero
/// or, with `accumulate`, from the value `out` holds. Checked
/// by the dispatcher: `depth > 0`, whole rows, and row `depth - 1` of `m`
/// holds `c` values from its start.
#[inline(always)]
pub(crate) fn nonzero_product<V: Lane>(tk: V::Token, out: &mut [f32], p: SparseOperands<'_>, accumulate: bool) {
    let SparseOperands { a, depth, m, ld } = p;
    let lines = a.len() / depth;
    if lines == 0 || out.is_empty() {
        return;
    }
    let c = out.len() / lines;
    let mut outs = out.chunks_exact_mut(GROUP * c);
    let mut ins = a.chunks_exact(GROUP * depth);
    for (o, a) in (&mut outs).zip(&mut ins) {
        let ((o0, o), (a0, a)) = (o.split_at_mut(c), a.split_at(depth));
        let ((o1, o2), (a1, a2)) = (o.split_at_mut(c), a.split_at(depth));
        lines_product::<V, 3>(tk, [o0, o1, o2], Lines { a: [a0, a1, a2], m, ld, accumulate });
    }
    let (o, a) = (outs.into_remainder(), ins.remainder());
    match a.len() / depth {
        0 => {}
        1 => lines_product::<V, 1>(tk, [o], Lines { a: [a], m, ld, accumulate }),
        _ => {
            let ((o0, o1), (a0, a1)) = (o.split_at_mut(c), a.split_at(depth));
            lines_product::<V, 2>(tk, [o0, o1], Lines { a: [a0, a1], m, ld, accumulate });
        }
    }
}

/// The products of `P` lines, block of columns after block.
#[inline(always)]
fn lines_product<V: Lane, const P: usize>(tk: V::Token, mut out: [&mut [f32]; P], lines: Lines<'_, P>) {
    let (c, width) = (out[0].len(), block_vectors(V::N, P) * V::N);
    let mut j0 = 0;
    while j0 + width <= c {
        match block_vectors(V::N, P) {
            16 => lines.block::<V, 16>(tk, &mut out, j0),
            8 => lines.block::<V, 8>(tk, &mut out, j0),
            _ => lines.block::<V, 4>(tk, &mut out, j0),
        }
        j0 += width;
    }
    // Whatever whole vectors are left, in one pass along the lines.
    match (c - j0) / V::N {
        0 => {}
        1 => lines.block::<V, 1>(tk, &mut out, j0),
        2 => lines.block::<V, 2>(tk, &mut out, j0),
        3 => lines.block::<V, 3>(tk, &mut out, j0),
        4 => lines.block::<V, 4>(tk, &mut out, j0),
        5 => lines.block::<V, 5>(tk, &mut out, j0),
        6 => lines.block::<V, 6>(tk, &mut out, j0),
        7 => lines.block::<V, 7>(tk, &mut out, j0),
        8 => lines.block::<V, 8>(tk, &mut out, j0),
        9 => lines.block::<V, 9>(tk, &mut out, j0),
        10 => lines.block::<V, 10>(tk, &mut out, j0),
        11 => lines.block::<V, 11>(tk, &mut out, j0),
        12 => lines.block::<V, 12>(tk, &mut out, j0),
        13 => lines.block::<V, 13>(tk, &mut out, j0),
        14 => lines.block::<V, 14>(tk, &mut out, j0),
        _ => lines.block::<V, 15>(tk, &mut out, j0),
    }
    j0 += (c - j0) / V::N * V::N;
    if j0 < c {
        lines.tail::<V>(tk, &mut out, j0);
    }
}

/// `P` lines of `a` (one to three) and the rows of `m` their nonzeros
/// pick.
struct Lines<'a, const P: usize> {
    a: [&'a [f32]; P],
    m: &'a [f32],
    ld: usize,
    accumulate: bool,
}

// The nonzeros are found a vector of the lines at a time (a mask of any
// line's, then its set bits), with no closure: one the optimiser declined
// to inline would be compiled outside the `#[target_feature]` function (see
// `kernels::generic`).
impl<const P: usize> Lines<'_, P> {
    /// Positions `k0..k0+N` where any of the lines is nonzero, as bits.
    #[inline(always)]
    fn bits<V: Lane>(&self, tk: V::Token, k0: usize) -> u32 {
        let end = (k0 + V::N).min(self.a[0].len());
        let mut bits = 0;
        for a in &self.a {
            bits |= V::load_partial(tk, &a[k0..end]).nonzero_mask();
        }
        bits
    }

    /// `U` whole vectors of each output line: `U·N` columns from `j0`, the
    /// accumulators in registers across the nonzeros.
    #[inline(always)]
    fn block<V: Lane, const U: usize>(&self, tk: V::Token, out: &mut [&mut [f32]; P], j0: usize) {
        let (mut acc, depth) = ([[V::splat(tk, 0.0); U]; P], self.a[0].len());
        if self.accumulate {
            for (o, acc) in out.iter().zip(&mut acc) {
                for (u, s) in acc.iter_mut().enumerate() {
                    *s = V::load(tk, &o[j0 + u * V::N..]);
                }
            }
        }
        let (mut k0, mut bits) = (0, self.bits::<V>(tk, 0));
        while k0 < depth {
            let next = if k0 + V::N < depth { self.bits::<V>(tk, k0 + V::N) } else { 0 };
            while bits != 0 {
                let k = k0 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // The next position's row is fetched while this one is used:
                // the rows come from L2, and the loads waited on them (the
                // products of 100 digits, 784 → 256, took 0.72-0.91 of the
                // time with this; BENCHMARKS.md).
                let ahead = match (bits, next) {
                    (0, 0) => k,
                    (0, n) => k0 + V::N + n.trailing_zeros() as usize,
                    (b, _) => k0 + b.trailing_zeros() as usize,
                };
                V::prefetch(tk, &self.m[ahead * self.ld + j0..][..U * V::N]);
                let src = &self.m[k * self.ld + j0..][..U * V::N];
                let mut x = [V::splat(tk, 0.0); P];
                for (x, a) in x.iter_mut().zip(&self.a) {
                    *x = V::splat(tk, a[k]);
                }
                for u in 0..U {
                    let w = V::load(tk, &src[u * V::N..]);
                    for p in 0..P {
                        acc[p][u] = x[p].mul_add(w, acc[p][u]);
                    }
                }
            }
            (k0, bits) = (k0 + V::N, next);
        }
        for (o, acc) in out.iter_mut().zip(acc) {
            for (u, s) in acc.into_iter().enumerate() {
                s.store(&mut o[j0 + u * V::N..]);
            }
        }
    }

    /// The last `c - j0 < N` columns of each output line, from `j0`.
    #[inline(always)]
    fn tail<V: Lane>(&self, tk: V::Token, out: &mut [&mut [f32]; P], j0: usize) {
        let w = out[0].len() - j0;
        let mut acc = [V::splat(tk, 0.0); P];
        if self.accumulate {
            for (o, s) in out.iter().zip(&mut acc) {
                *s = V::load_partial(tk, &o[j0..]);
            }
        }
        for k0 in (0..self.a[0].len()).step_by(V::N) {
            let mut bits = self.bits::<V>(tk, k0);
            while bits != 0 {
                let k = k0 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let src = V::load_partial(tk, &self.m[k * self.ld + j0..][..w]);
                for (s, a) in acc.iter_mut().zip(&self.a) {
                    *s = V::splat(tk, a[k]).mul_add(src, *s);
                }
            }
        }
        for (o, acc) in out.iter_mut().zip(acc) {
            acc.store_partial(&mut o[j0..]);
        }
    }
}

/// How many values of `x` are not ±0 (NaN counts).
#[inline(always)]
pub(crate) fn count_nonzeros<V: Lane>(tk: V::Token, x: &[f32]) -> usize {
    let mut it = x.chunks_exact(V::N);
    let mut n = 0;
    for c in &mut it {
        n += V::load(tk, c).nonzero_mask().count_ones() as usize;
    }
    n + V::load_partial(tk, it.remainder()).nonzero_mask().count_ones() as usize
}
