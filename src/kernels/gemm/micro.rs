//! Microkernels: `C[0..m, 0..n] ← (acc ? C : 0) + Ã·B̃` for one `MR × NR`
//! tile, `Ã` a packed `k × MR` panel and `B̃` a packed `k × NR` panel (both
//! k-major), C row-major with row stride `ldc`. Each k step broadcasts MR
//! values of Ã against NR/lanes vectors of B̃; the accumulators stay in
//! registers for the whole k loop, and only the `m × n` valid corner of C is
//! read or written.
//!
//! Every element is summed over k in order with one rounding per FMA, so a
//! value of C does not depend on where its tile sits: the result is the same
//! however the matrix is split into tiles, shards or threads.

/// The signature shared by the microkernels.
///
/// # Safety
/// `a` holds `k·MR` and `b` holds `k·NR` readable f32; `c` is valid for
/// reads and writes of `m` rows of `n` values at row stride `ldc`;
/// `m ≤ MR`, `n ≤ NR`; the CPU has the kernel's target features.
pub(crate) type KernelFn =
    unsafe fn(k: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, m: usize, n: usize, acc: bool);

/// AVX-512: a 12 × 32 tile in 24 zmm accumulators.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use core::arch::x86_64::*;

    /// Rows per tile.
    pub const MR: usize = 12;
    /// Columns per tile (two 16-lane vectors).
    pub const NR: usize = 32;

    fn mask(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// See [`super::KernelFn`].
    ///
    /// # Safety
    /// As [`super::KernelFn`], with AVX-512F present.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn kernel(
        k: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        m: usize,
        n: usize,
        acc: bool,
    ) {
        debug_assert!(m <= MR && n <= NR);
        let mut c0 = [_mm512_setzero_ps(); MR];
        let mut c1 = [_mm512_setzero_ps(); MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..k {
            // SAFETY: the caller guarantees k·MR values at `a`, k·NR at `b`.
            unsafe {
                let b0 = _mm512_loadu_ps(b);
                let b1 = _mm512_loadu_ps(b.add(16));
                for i in 0..MR {
                    let ai = _mm512_set1_ps(*a.add(i));
                    c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
                    c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
        }
        let (m0, m1) = (mask(n), mask(n.saturating_sub(16)));
        for i in 0..MR {
            if i < m {
                // SAFETY: row i < m of C holds n values; the masks cover
                // exactly lanes 0..n, and masked lanes are not accessed.
                unsafe {
                    let p = c.add(i * ldc);
                    let (mut v0, mut v1) = (c0[i], c1[i]);
                    if acc {
                        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, p), v0);
                        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, p.add(16)), v1);
                    }
                    _mm512_mask_storeu_ps(p, m0, v0);
                    _mm512_mask_storeu_ps(p.add(16), m1, v1);
                }
            }
        }
    }
}

/// AVX2 + FMA: a 6 × 16 tile in 12 ymm accumulators.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    /// Rows per tile.
    pub const MR: usize = 6;
    /// Columns per tile (two 8-lane vectors).
    pub const NR: usize = 16;

    #[target_feature(enable = "avx2,fma")]
    fn mask(n: usize) -> __m256i {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), lanes)
    }

    /// See [`super::KernelFn`].
    ///
    /// # Safety
    /// As [`super::KernelFn`], with AVX2 and FMA present.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn kernel(
        k: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        m: usize,
        n: usize,
        acc: bool,
    ) {
        debug_assert!(m <= MR && n <= NR);
        let mut c0 = [_mm256_setzero_ps(); MR];
        let mut c1 = [_mm256_setzero_ps(); MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..k {
            // SAFETY: the caller guarantees k·MR values at `a`, k·NR at `b`.
            unsafe {
                let b0 = _mm256_loadu_ps(b);
                let b1 = _mm256_loadu_ps(b.add(8));
                for i in 0..MR {
                    let ai = _mm256_broadcast_ss(&*a.add(i));
                    c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
                    c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
        }
        let (m0, m1) = (mask(n), mask(n.saturating_sub(8)));
        for i in 0..MR {
            if i < m {
                // SAFETY: row i < m of C holds n values; the masks cover
                // exactly lanes 0..n, and masked lanes are not accessed.
                unsafe {
                    let p = c.add(i * ldc);
                    let (mut v0, mut v1) = (c0[i], c1[i]);
                    if acc {
                        v0 = _mm256_add_ps(_mm256_maskload_ps(p, m0), v0);
                        v1 = _mm256_add_ps(_mm256_maskload_ps(p.add(8), m1), v1);
                    }
                    _mm256_maskstore_ps(p, m0, v0);
                    _mm256_maskstore_ps(p.add(8), m1, v1);
                }
            }
        }
    }
}

/// Portable: a 4 × 16 tile in plain arrays, vectorised by the compiler for
/// whatever the crate was built for. Multiplies and adds separately, like
/// any target without FMA.
pub(crate) mod portable {
    /// Rows per tile.
    pub const MR: usize = 4;
    /// Columns per tile.
    pub const NR: usize = 16;

    /// See [`super::KernelFn`].
    ///
    /// # Safety
    /// As [`super::KernelFn`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn kernel(
        k: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        m: usize,
        n: usize,
        acc: bool,
    ) {
        debug_assert!(m <= MR && n <= NR);
        // SAFETY: the caller guarantees k·MR values at `a` and k·NR at `b`.
        let (a, b) = unsafe { (std::slice::from_raw_parts(a, k * MR), std::slice::from_raw_parts(b, k * NR)) };
        let mut t = [[0.0f32; NR]; MR];
        for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (row, &ai) in t.iter_mut().zip(ak) {
                for (v, &bj) in row.iter_mut().zip(bk) {
                    *v += ai * bj;
                }
            }
        }
        for (i, row) in t.iter().enumerate().take(m) {
            // SAFETY: row i < m of C holds n ≤ NR values at stride ldc.
            let cr = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n) };
            for (cv, &v) in cr.iter_mut().zip(row) {
                *cv = if acc { *cv + v } else { v };
            }
        }
    }
}
