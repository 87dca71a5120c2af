//! A 16 × 16 transpose in AVX-512 registers, for the packings that turn
//! rows into columns (16 loads, 64 shuffles, 16 stores instead of 256
//! scalar moves).

/// Whether [`transpose16`] can run here.
pub(crate) fn available() -> bool {
    crate::kernels::SimdPath::Avx512.is_supported()
}

/// `dst[i·ldd + j] = src[j·ld + i]` for `i, j < 16`. Returns `false` (doing
/// nothing) when the slices are too short or AVX-512 is missing.
pub(crate) fn transpose16(src: &[f32], ld: usize, dst: &mut [f32], ldd: usize) -> bool {
    let fits = |len: usize, ld: usize| ld >= 16 && len >= 15 * ld + 16;
    if !fits(src.len(), ld) || !fits(dst.len(), ldd) || !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (checked above) and both slices hold the
    // 16 rows of 16 values at their strides that the function touches.
    unsafe {
        avx512::transpose16(src.as_ptr(), ld, dst.as_mut_ptr(), ldd)
    }
    cfg!(target_arch = "x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    /// # Safety
    /// AVX-512F present; `src` readable for 16 rows of 16 at stride `ld`,
    /// `dst` writable for 16 rows of 16 at stride `ldd`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose16(src: *const f32, ld: usize, dst: *mut f32, ldd: usize) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate() {
            // SAFETY: row i < 16 of src, per the caller.
            *v = unsafe { _mm512_loadu_ps(src.add(i * ld)) };
        }
        // Pairs of rows interleaved, then pairs of pairs, then 128-bit lanes
        // twice: after four stages vector i holds column i.
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for b in (0..16).step_by(4) {
            u[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
            u[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
            u[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            u[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
        }
        let mut v = [_mm512_setzero_ps(); 16];
        for b in [0, 8] {
            for i in 0..4 {
                v[b + i] = _mm512_shuffle_f32x4::<0x88>(u[b + i], u[b + 4 + i]);
                v[b + 4 + i] = _mm512_shuffle_f32x4::<0xDD>(u[b + i], u[b + 4 + i]);
            }
        }
        for i in 0..8 {
            let lo = _mm512_shuffle_f32x4::<0x88>(v[i], v[8 + i]);
            let hi = _mm512_shuffle_f32x4::<0xDD>(v[i], v[8 + i]);
            // SAFETY: rows i and 8 + i < 16 of dst, per the caller.
            unsafe {
                _mm512_storeu_ps(dst.add(i * ldd), lo);
                _mm512_storeu_ps(dst.add((8 + i) * ldd), hi);
            }
        }
    }
}
