//! Microkernels: `C[0..m, 0..n] ← Ã·B̃` for one `MR × NR` tile, `Ã` a
//! packed `k × MR` panel and `B̃` a packed `k × NR` panel (both k-major), C
//! row-major with row stride `ldc` ([`CTile`]). Each k step broadcasts MR
//! values of Ã against NR/lanes vectors of B̃; the accumulators stay in
//! registers for the whole k loop, and only the `m × n` valid corner of C is
//! read or written (no pointer is ever formed past it).
//!
//! Every element is one chain of multiply-adds over k in order, one
//! rounding each (`c ← a·b + c`), starting from 0 ([`Acc::Overwrite`],
//! [`Acc::Add`], which then adds the chain's sum to C in one addition) or
//! from the value C holds ([`Acc::Continue`]): a product over k cut into
//! pieces (a batch's shards, a run's ranks) and run piece after piece with
//! `Continue` gives the bits of the uncut product. A value of C does not
//! depend on where its tile sits.
//!
//! [`tile`] is written once over a [`Lane`] and compiled per instruction
//! set in `kernels::arch`; [`portable`] is its plain twin.

use crate::kernels::arch::Lane;

/// Where a tile of C lies: `m` rows of `n` values, `ldc` apart, from `ptr`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CTile {
    pub ptr: *mut f32,
    pub ldc: usize,
    pub m: usize,
    pub n: usize,
}

/// What a kernel does with the C it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acc {
    /// `C ← Ã·B̃` (C is not read).
    Overwrite,
    /// `C ← C + Ã·B̃`, the chain from C's value: `c ← a·b + c` for each k.
    Continue,
    /// `C ← C + (Ã·B̃)`: the chain from 0, then added to C in one addition.
    Add,
}

/// A microkernel: `(Ã, B̃, C, acc)`, `k = Ã.len() / MR`.
///
/// # Safety
/// `c.ptr` is valid for reads and writes of `c.m ≤ MR` rows of `c.n ≤ NR`
/// values at row stride `c.ldc`, and nothing else accesses them during the
/// call. (The CPU features a kernel needs are guaranteed by where it comes
/// from: a [`Microkernel`] is only made from a token, through the unsafe
/// [`Microkernel::new`].)
pub(crate) type KernelFn = unsafe fn(a: &[f32], b: &[f32], c: CTile, acc: Acc);

/// A microkernel and its tile.
#[derive(Clone, Copy)]
pub(crate) struct Microkernel {
    run: KernelFn,
    /// Rows of the tile.
    pub mr: usize,
    /// Columns of the tile.
    pub nr: usize,
}

impl Microkernel {
    /// Wraps `run`, a kernel of an `mr × nr` tile.
    ///
    /// # Safety
    /// This CPU runs every instruction `run` uses: the caller holds the
    /// token of its instruction set (see `kernels::arch`).
    pub(crate) unsafe fn new(run: KernelFn, mr: usize, nr: usize) -> Self {
        Microkernel { run, mr, nr }
    }

    /// The portable kernel, which runs everywhere.
    pub(crate) fn portable() -> Self {
        Microkernel { run: portable, mr: PORTABLE_MR, nr: PORTABLE_NR }
    }

    /// Runs the kernel on one tile; `Ã` and `B̃` hold the same number of
    /// k steps (`k·mr` and `k·nr` values).
    ///
    /// # Safety
    /// As [`KernelFn`], with `c.m ≤ mr` and `c.n ≤ nr`.
    #[inline(always)]
    pub(crate) unsafe fn run(&self, a: &[f32], b: &[f32], c: CTile, acc: Acc) {
        debug_assert!(c.m <= self.mr && c.n <= self.nr);
        debug_assert!(a.len() / self.mr == b.len() / self.nr);
        // SAFETY: the caller's guarantees are the kernel's.
        unsafe { (self.run)(a, b, c, acc) }
    }
}

/// One k step of a tile: `c + a·b` for the broadcast value `a` of Ã and
/// a vector `b` of B̃; it holds the token of the lanes it runs on.
pub(crate) trait Step<V: Lane>: Copy {
    /// The lanes' token.
    fn token(self) -> V::Token;
    /// `c + a·b`.
    fn madd(self, a: V, b: V, c: V) -> V;
}

/// The f32 step: a fused multiply-add where the lane has one.
#[derive(Clone, Copy)]
pub(crate) struct Fma<T>(pub T);

impl<V: Lane> Step<V> for Fma<V::Token> {
    #[inline(always)]
    fn token(self) -> V::Token {
        self.0
    }
    #[inline(always)]
    fn madd(self, a: V, b: V, c: V) -> V {
        a.mul_add(b, c)
    }
}

/// The tile over lanes `V`: `MR × NV·V::N`, `NV·MR` accumulators, each k
/// step by `step` ([`Fma`] for f32 panels), on B̃ panels `S ≥ NV` vectors
/// wide (`S > NV`: the panel's first NV vectors, for an edge tile whose
/// columns end before the panel's).
///
/// # Safety
/// As [`KernelFn`] with `NR = S·V::N`, `c.n ≤ NV·V::N`.
#[inline(always)]
pub(crate) unsafe fn tile<V: Lane, const MR: usize, const NV: usize, const S: usize>(
    step: impl Step<V>,
    a: &[f32],
    b: &[f32],
    c: CTile,
    acc: Acc,
) {
    let (t, w, CTile { ptr, ldc, m, n }) = (step.token(), V::N, c);
    // Ask for C's rows now: a tile's rows lie `ldc` apart (4 KiB for 1024
    // columns), and fetched only when the k loop has run and the tile is
    // written, they cost the layer products 40 % of their speed on Zen 3.
    for i in 0..MR.min(m) {
        // SAFETY: row i < m of C starts i·ldc past `ptr` and holds n ≥ 1
        // values, so both ends are inside the caller's tile.
        unsafe {
            let p = ptr.add(i * ldc);
            prefetch(p);
            prefetch(p.add(n.saturating_sub(1)));
        }
    }
    let mut r = match acc {
        // SAFETY: the caller's m rows of n values at stride ldc.
        Acc::Continue => unsafe { read_tile::<V, MR, NV>(t, c) },
        Acc::Overwrite | Acc::Add => [[V::splat(t, 0.0); NV]; MR],
    };
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(S * w)) {
        let bv: [V; NV] = std::array::from_fn(|v| V::load(t, &bk[v * w..]));
        for i in 0..MR {
            let ai = V::splat(t, ak[i]);
            for v in 0..NV {
                r[i][v] = step.madd(ai, bv[v], r[i][v]);
            }
        }
    }
    if acc == Acc::Add {
        // SAFETY: as above.
        let d = unsafe { read_tile::<V, MR, NV>(t, c) };
        for i in 0..MR {
            for v in 0..NV {
                r[i][v] = d[i][v] + r[i][v];
            }
        }
    }
    // SAFETY: as above; the tile is the caller's alone during the call.
    unsafe { write_tile::<V, MR, NV>(c, &r) }
}

/// Stores the accumulators `r` (row i's NV vectors of columns) into the
/// `m ≤ MR` rows of `n ≤ NV·V::N` values of C.
///
/// # Safety
/// `c.ptr` is valid for writes of `c.m` rows of `c.n` values at stride
/// `c.ldc`, which nothing else accesses during the call.
#[inline(always)]
unsafe fn write_tile<V: Lane, const MR: usize, const NV: usize>(c: CTile, r: &[[V; NV]; MR]) {
    let (w, CTile { ptr, ldc, m, n }) = (V::N, c);
    for (i, row) in r.iter().enumerate().take(m) {
        for (v, &x) in row.iter().enumerate() {
            let nv = n.saturating_sub(v * w).min(w);
            if nv > 0 {
                // SAFETY: row i < m of C starts i·ldc past `ptr` and holds
                // n values, of which nv from column v·w.
                unsafe { write_row::<V>(ptr.add(i * ldc + v * w), nv, x) };
            }
        }
    }
}

/// The `m ≤ MR` rows of `n ≤ NV·V::N` values of C as the tile's rows of NV
/// vectors (rows past `m` and lanes past `n` zero).
///
/// # Safety
/// `c.ptr` is valid for reads of `c.m` rows of `c.n` values at stride
/// `c.ldc`.
#[inline(always)]
unsafe fn read_tile<V: Lane, const MR: usize, const NV: usize>(t: V::Token, c: CTile) -> [[V; NV]; MR] {
    let (w, CTile { ptr, ldc, m, n }) = (V::N, c);
    let mut r = [[V::splat(t, 0.0); NV]; MR];
    for (i, row) in r.iter_mut().enumerate().take(m) {
        for (v, x) in row.iter_mut().enumerate() {
            let nv = n.saturating_sub(v * w).min(w);
            if nv > 0 {
                // SAFETY: row i < m of C starts i·ldc past `ptr` and holds
                // n values, of which nv from column v·w.
                *x = unsafe { read_row::<V>(t, ptr.add(i * ldc + v * w), nv) };
            }
        }
    }
    r
}

/// `p[..n]` as a vector (lanes past `n` zero), `n ≤ V::N`: a plain load
/// when `n = V::N`, a masked one only for an edge.
///
/// # Safety
/// `p` is valid for reads of `n` values.
#[inline(always)]
unsafe fn read_row<V: Lane>(t: V::Token, p: *const f32, n: usize) -> V {
    if n == V::N {
        // SAFETY: the caller's n = V::N values at p.
        V::load(t, unsafe { std::slice::from_raw_parts(p, n) })
    } else {
        // SAFETY: the caller's n values at p.
        unsafe { V::load_masked(t, p, n) }
    }
}

/// `p[..n] ← v[..n]`, `n ≤ V::N`: a plain store when `n = V::N`, a masked
/// one only for an edge. (AVX2's masked store is microcoded on Zen 3:
/// storing every row masked cost config S's one-thread step 17 %.)
///
/// # Safety
/// `p` is valid for writes of `n` values that nothing else accesses during
/// the call.
#[inline(always)]
unsafe fn write_row<V: Lane>(p: *mut f32, n: usize, v: V) {
    if n == V::N {
        // SAFETY: the caller's n = V::N values at p, exclusively ours.
        v.store(unsafe { std::slice::from_raw_parts_mut(p, n) });
    } else {
        // SAFETY: the caller's n values at p.
        unsafe { v.store_masked(p, n) };
    }
}

/// Hints the cache to fetch the line holding `p` (a no-op where there is
/// no such hint). A prefetch never faults.
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is SSE, part of every x86_64, and only a hint: it
    // reads nothing the program sees and never faults, whatever `p` is.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Rows of the portable tile.
const PORTABLE_MR: usize = 4;
/// Columns of the portable tile.
const PORTABLE_NR: usize = 16;
/// The portable tile `(MR, NR)`.
pub(crate) const PORTABLE_TILE: (usize, usize) = (PORTABLE_MR, PORTABLE_NR);

/// The plain twin: a 4 × 16 tile in arrays, vectorised by the compiler for
/// whatever the crate was built for. Multiplies and adds separately, like
/// any target without FMA (`c ← (a·b) + c`, two roundings), in the same
/// chain over k, and the same [`Acc`].
///
/// # Safety
/// As [`KernelFn`] with `MR = 4`, `NR = 16`.
unsafe fn portable(a: &[f32], b: &[f32], c: CTile, acc: Acc) {
    let (m, n, ldc) = (c.m.min(PORTABLE_MR), c.n.min(PORTABLE_NR), c.ldc);
    // C's rows, read only when the tile needs them.
    // SAFETY: row i < m of C holds n ≤ NR values at stride ldc.
    let c_row = |i: usize| unsafe { std::slice::from_raw_parts(c.ptr.add(i * ldc), n) };
    let mut t = [[0.0f32; PORTABLE_NR]; PORTABLE_MR];
    if acc == Acc::Continue {
        for (i, row) in t.iter_mut().enumerate().take(m) {
            row[..n].copy_from_slice(c_row(i));
        }
    }
    for (ak, bk) in a.chunks_exact(PORTABLE_MR).zip(b.chunks_exact(PORTABLE_NR)) {
        for (row, &ai) in t.iter_mut().zip(ak) {
            for (v, &bj) in row.iter_mut().zip(bk) {
                *v += ai * bj;
            }
        }
    }
    if acc == Acc::Add {
        for (i, row) in t.iter_mut().enumerate().take(m) {
            for (v, &ci) in row.iter_mut().zip(c_row(i)) {
                *v += ci;
            }
        }
    }
    for (i, row) in t.iter().enumerate().take(m) {
        // SAFETY: row i < m of C holds n ≤ NR values at stride ldc, the
        // caller's alone during the call (no read of it is alive).
        let cr = unsafe { std::slice::from_raw_parts_mut(c.ptr.add(i * ldc), n) };
        cr.copy_from_slice(&row[..n]);
    }
}

#[cfg(test)]
mod tests {
    //! The generic tile over a lane type that checks every pointer it is
    //! handed: each must lie inside the C block the caller owns (a pointer
    //! `p + 16` formed past the end of a tile of 16 columns or fewer would
    //! fail here).
    use super::*;
    use crate::kernels::arch::Token;
    use std::cell::Cell;
    use std::ops::{Add, Div, Mul, Neg, Sub};

    thread_local! {
        /// The addresses `[start, end]` a pointer may take (end = one past).
        static BOUNDS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    fn check(p: *const f32, n: usize) {
        let (start, end) = BOUNDS.with(Cell::get);
        let (a, b) = (p as usize, p as usize + 4 * n);
        assert!(a >= start && b <= end, "pointer {a:#x}..{b:#x} outside C {start:#x}..{end:#x}");
    }

    #[derive(Clone, Copy)]
    struct Checked;
    // SAFETY: the checked lane runs plain Rust on any CPU.
    unsafe impl Token for Checked {
        unsafe fn new_unchecked() -> Self {
            Checked
        }
    }

    #[derive(Clone, Copy)]
    struct L([f32; 16]);
    macro_rules! op {
        ($tr:ident, $f:ident, $o:tt) => {
            impl $tr for L {
                type Output = L;
                fn $f(self, o: L) -> L {
                    L(std::array::from_fn(|i| self.0[i] $o o.0[i]))
                }
            }
        };
    }
    op!(Add, add, +);
    op!(Sub, sub, -);
    op!(Mul, mul, *);
    op!(Div, div, /);
    impl Neg for L {
        type Output = L;
        fn neg(self) -> L {
            L(self.0.map(|v| -v))
        }
    }

    impl Lane for L {
        type Token = Checked;
        const N: usize = 16;
        fn token(self) -> Checked {
            Checked
        }
        fn splat(_: Checked, v: f32) -> L {
            L([v; 16])
        }
        fn load(_: Checked, s: &[f32]) -> L {
            L(s[..16].try_into().unwrap())
        }
        fn store(self, s: &mut [f32]) {
            s[..16].copy_from_slice(&self.0)
        }
        unsafe fn load_masked(_: Checked, p: *const f32, n: usize) -> L {
            check(p, n);
            let mut a = [0.0; 16];
            // SAFETY: the caller's contract, checked above against C.
            unsafe { std::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), n) };
            L(a)
        }
        unsafe fn store_masked(self, p: *mut f32, n: usize) {
            check(p, n);
            // SAFETY: the caller's contract, checked above against C.
            unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr(), p, n) };
        }
        fn mul_add(self, a: L, b: L) -> L {
            L(std::array::from_fn(|i| self.0[i].mul_add(a.0[i], b.0[i])))
        }
        fn abs(self) -> L {
            L(self.0.map(f32::abs))
        }
        fn copysign(self, s: L) -> L {
            L(std::array::from_fn(|i| self.0[i].copysign(s.0[i])))
        }
        fn sqrt(self) -> L {
            L(self.0.map(f32::sqrt))
        }
        fn select_lt(a: L, b: L, t: L, f: L) -> L {
            L(std::array::from_fn(|i| if a.0[i] < b.0[i] { t.0[i] } else { f.0[i] }))
        }
        fn select_gt(a: L, b: L, t: L, f: L) -> L {
            L(std::array::from_fn(|i| if a.0[i] > b.0[i] { t.0[i] } else { f.0[i] }))
        }
        fn pow2_split(_: L) -> (L, L) {
            unreachable!("not used by the tile")
        }
        fn mant_exp(_: L) -> (L, L) {
            unreachable!("not used by the tile")
        }
        fn reduce_add(self) -> f32 {
            self.0.iter().sum()
        }
        fn max(self, o: L) -> L {
            L(std::array::from_fn(|i| self.0[i].max(o.0[i])))
        }
    }

    #[test]
    fn the_tile_touches_only_the_c_block_it_is_given() {
        const MR: usize = 3;
        let k = 5;
        let a: Vec<f32> = (0..k * MR).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..k * 32).map(|i| (i % 7) as f32).collect();
        for m in 1..=MR {
            for n in 1..=32 {
                for ldc in [n, n + 5] {
                    // C holds exactly the tile: m rows, the last one n long.
                    let len = (m - 1) * ldc + n;
                    let mut c = vec![1.0f32; len];
                    let start = c.as_ptr() as usize;
                    BOUNDS.with(|bd| bd.set((start, start + 4 * len)));
                    for acc in [Acc::Overwrite, Acc::Continue, Acc::Add] {
                        let ct = CTile { ptr: c.as_mut_ptr(), ldc, m, n };
                        // SAFETY: c holds m rows of n values at stride ldc.
                        unsafe { tile::<L, MR, 2, 2>(Fma(Checked), &a, &b, ct, acc) };
                    }
                    for i in 0..m {
                        for j in 0..n {
                            let want: f32 = (0..k).map(|p| a[p * MR + i] * b[p * 32 + j]).sum();
                            let got = c[i * ldc + j];
                            assert_eq!(got, 3.0 * want, "m {m} n {n} ldc {ldc} at ({i},{j})");
                        }
                    }
                }
            }
        }
    }
}
