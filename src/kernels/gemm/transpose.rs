//! A 16 × 16 transpose in AVX-512 registers, for the packings that turn
//! rows into columns (16 loads, 64 shuffles, 16 stores instead of 256
//! scalar moves). Partial blocks (fewer source rows, narrower destination
//! lines: the 12-row panels of A) go through the same registers with the
//! missing rows zero and masked stores.

/// Whether [`transpose16`] can run here.
pub(crate) fn available() -> bool {
    crate::kernels::SimdPath::Avx512.is_supported()
}

/// `dst[i·ldd + j] = src[j·ld + i]` for `i < 16`, `j < cols`, reading only
/// source rows `j < rows` (rows past that count as zero, so the destination
/// lines come out zero-padded from column `rows` to `cols`). Requires
/// `rows ≤ 16`, `cols ≤ 16`, `ldd ≥ cols`. Returns `false` (doing nothing)
/// when an argument is out of range, a slice too short, or AVX-512 missing.
pub(crate) fn transpose16(src: &[f32], ld: usize, rows: usize, dst: &mut [f32], ldd: usize, cols: usize) -> bool {
    let src_ok = rows == 0 || ((rows - 1).checked_mul(ld)).is_some_and(|e| e + 16 <= src.len());
    let dst_ok = cols > 0 && ldd >= cols && 15 * ldd + cols <= dst.len();
    if rows > 16 || cols > 16 || !src_ok || !dst_ok || !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (checked above); src holds `rows` rows of
    // 16 values at stride `ld`, dst 16 lines of `cols` values at stride `ldd`
    // (both checked above), which is all the function touches.
    unsafe {
        avx512::transpose16(src.as_ptr(), ld, rows, dst.as_mut_ptr(), ldd, cols)
    }
    cfg!(target_arch = "x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    /// # Safety
    /// AVX-512F present; `src` readable for `rows ≤ 16` rows of 16 at stride
    /// `ld`, `dst` writable for 16 lines of `cols ≤ 16` at stride `ldd`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose16(src: *const f32, ld: usize, rows: usize, dst: *mut f32, ldd: usize, cols: usize) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate().take(rows) {
            // SAFETY: row i < rows of src, per the caller.
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
        let mask = ((1u32 << cols) - 1) as __mmask16;
        for i in 0..8 {
            let lo = _mm512_shuffle_f32x4::<0x88>(v[i], v[8 + i]);
            let hi = _mm512_shuffle_f32x4::<0xDD>(v[i], v[8 + i]);
            // SAFETY: lines i and 8 + i < 16 of dst, lanes below cols, per
            // the caller; masked-off lanes are not accessed.
            unsafe {
                _mm512_mask_storeu_ps(dst.add(i * ldd), mask, lo);
                _mm512_mask_storeu_ps(dst.add((8 + i) * ldd), mask, hi);
            }
        }
    }
}
