//! The products that skip zeros, written once over a [`Lane`] (see
//! `kernels::generic`) with plain scalar twins in `kernels::scalar`:
//! `out = a·m` where `a` is mostly zeros (MNIST's digits are about one
//! fifth nonzero), costing one multiply-add per nonzero of `a` rather than
//! one per value. The first layer's forward product `x·W₁` and its weight
//! gradient `xᵀ·δ₁` are such products when the inputs are sparse.
//!
//! Each output value is `Σ_{k: a[k] ≠ 0} a[k]·m[k][j]`, one fused
//! multiply-add per term in increasing `k`, starting from zero; the scalar
//! twin does the same, so the paths that fuse (AVX-512, AVX2, scalar) give
//! the same bits.

use super::arch::Lane;

/// Vectors of accumulators per block of output columns: half the vector
/// registers (16 of AVX-512's 32: 256 columns; 8 of AVX2's 16: 64), which
/// leaves room for the loads. Fewer columns left at the end of a line are
/// done in one block of their own width.
const fn block_vectors(lanes: usize) -> usize {
    if lanes >= 16 {
        16
    } else {
        8
    }
}

/// `out[r][j] (+)= Σ_{k: a[r][k] ≠ 0} a[r][k]·m[k·ld + j]` for each of the
/// `lines = a.len() / depth` rows `r` of `a` (`depth` values each) and each
/// column `j < c = out.len() / lines`. The sum starts from zero and, with
/// `accumulate`, is then added to `out` in one addition. Checked by the
/// dispatcher: `depth > 0`, whole rows, and row `depth - 1` of `m` holds
/// `c` values from its start.
#[inline(always)]
pub(crate) fn nonzero_product<V: Lane>(
    tk: V::Token,
    out: &mut [f32],
    a: &[f32],
    depth: usize,
    m: &[f32],
    ld: usize,
    accumulate: bool,
) {
    let lines = a.len() / depth;
    if lines == 0 || out.is_empty() {
        return;
    }
    let c = out.len() / lines;
    for (row, a) in out.chunks_exact_mut(c).zip(a.chunks_exact(depth)) {
        let line = Line { a, m, ld, accumulate };
        let width = block_vectors(V::N) * V::N;
        let mut blocks = row.chunks_exact_mut(width);
        let mut j0 = 0;
        for o in &mut blocks {
            if block_vectors(V::N) == 16 {
                line.block::<V, 16>(tk, o, j0);
            } else {
                line.block::<V, 8>(tk, o, j0);
            }
            j0 += width;
        }
        // Whatever whole vectors are left, in one pass along the line.
        let rest = blocks.into_remainder();
        let (vecs, tail) = rest.split_at_mut(rest.len() / V::N * V::N);
        match vecs.len() / V::N {
            0 => {}
            1 => line.block::<V, 1>(tk, vecs, j0),
            2 => line.block::<V, 2>(tk, vecs, j0),
            3 => line.block::<V, 3>(tk, vecs, j0),
            4 => line.block::<V, 4>(tk, vecs, j0),
            5 => line.block::<V, 5>(tk, vecs, j0),
            6 => line.block::<V, 6>(tk, vecs, j0),
            7 => line.block::<V, 7>(tk, vecs, j0),
            8 => line.block::<V, 8>(tk, vecs, j0),
            9 => line.block::<V, 9>(tk, vecs, j0),
            10 => line.block::<V, 10>(tk, vecs, j0),
            11 => line.block::<V, 11>(tk, vecs, j0),
            12 => line.block::<V, 12>(tk, vecs, j0),
            13 => line.block::<V, 13>(tk, vecs, j0),
            14 => line.block::<V, 14>(tk, vecs, j0),
            _ => line.block::<V, 15>(tk, vecs, j0),
        }
        if !tail.is_empty() {
            line.tail::<V>(tk, tail, j0 + vecs.len());
        }
    }
}

/// One line of `a` and the rows of `m` its nonzeros pick.
struct Line<'a> {
    a: &'a [f32],
    m: &'a [f32],
    ld: usize,
    accumulate: bool,
}

// The nonzeros are found a vector of `a` at a time (a mask, then its set
// bits), with no closure: one the optimiser declined to inline would be
// compiled outside the `#[target_feature]` function (see `kernels::generic`).
impl Line<'_> {
    /// `U` whole vectors of the output line: `U·N` columns from `j0`, the
    /// accumulators in registers across the nonzeros.
    #[inline(always)]
    fn block<V: Lane, const U: usize>(&self, tk: V::Token, out: &mut [f32], j0: usize) {
        let mut acc = [V::splat(tk, 0.0); U];
        for (ci, chunk) in self.a.chunks(V::N).enumerate() {
            let mut bits = V::load_partial(tk, chunk).nonzero_mask();
            while bits != 0 {
                let l = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let src = &self.m[(ci * V::N + l) * self.ld + j0..][..U * V::N];
                let x = V::splat(tk, chunk[l]);
                for (u, s) in acc.iter_mut().enumerate() {
                    *s = x.mul_add(V::load(tk, &src[u * V::N..]), *s);
                }
            }
        }
        for (u, s) in acc.into_iter().enumerate() {
            let o = &mut out[u * V::N..];
            let s = if self.accumulate { V::load(tk, o) + s } else { s };
            s.store(o);
        }
    }

    /// The last `out.len() < N` columns of the output line, from `j0`.
    #[inline(always)]
    fn tail<V: Lane>(&self, tk: V::Token, out: &mut [f32], j0: usize) {
        let w = out.len();
        let mut acc = V::splat(tk, 0.0);
        for (ci, chunk) in self.a.chunks(V::N).enumerate() {
            let mut bits = V::load_partial(tk, chunk).nonzero_mask();
            while bits != 0 {
                let l = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let src = &self.m[(ci * V::N + l) * self.ld + j0..][..w];
                acc = V::splat(tk, chunk[l]).mul_add(V::load_partial(tk, src), acc);
            }
        }
        let s = if self.accumulate { V::load_partial(tk, out) + acc } else { acc };
        s.store_partial(out);
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
