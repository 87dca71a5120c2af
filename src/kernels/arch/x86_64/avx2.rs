//! AVX2 with FMA (Haswell and later, Zen): the token, the 8-lane vector
//! type, the kernel table and the 6 × 16 GEMM microkernel.

use super::{entry_points, exponent_bits, lane_type, prefetch_lines};
use crate::kernels::arch::{Lane, Square, Token};
use crate::kernels::gemm::micro::{self, Microkernel};
use crate::kernels::simd::{table, Table};
use core::arch::x86_64::*;

/// Proof that this CPU runs AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token, if this CPU has AVX2 and FMA.
    pub(crate) fn detect() -> Option<Avx2> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2(()))
    }
}

// SAFETY: the only safe constructor, `detect`, checks every feature the
// path's code is compiled with.
unsafe impl Token for Avx2 {
    unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

lane_type!(F32x8, __m256, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, _mm256_xor_ps, _mm256_set1_ps);

exponent_bits!(
    F32x8,
    _mm256_castps_si256,
    _mm256_castsi256_ps,
    _mm256_sub_epi32,
    _mm256_add_epi32,
    _mm256_srai_epi32,
    _mm256_slli_epi32,
    _mm256_srli_epi32,
    _mm256_and_si256,
    _mm256_or_si256,
    _mm256_set1_epi32,
    _mm256_cvtepi32_ps
);

/// The mask of lanes `0..n` (all 8 from `n = 8` on), as AVX2's masked moves
/// take it: the sign bit of each 32-bit lane.
#[inline(always)]
fn mask(_: Avx2, n: usize) -> __m256i {
    // SAFETY: the token proves AVX2.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

impl Lane for F32x8 {
    type Token = Avx2;
    const N: usize = 8;
    #[inline(always)]
    fn token(self) -> Avx2 {
        Avx2(())
    }
    #[inline(always)]
    fn splat(_: Avx2, v: f32) -> Self {
        // SAFETY: the token proves AVX.
        F32x8(unsafe { _mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn load(_: Avx2, s: &[f32]) -> Self {
        assert!(s.len() >= 8);
        // SAFETY: the token proves AVX; `s` holds 8 values (checked).
        F32x8(unsafe { _mm256_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        assert!(s.len() >= 8);
        // SAFETY: `self` proves AVX; `s` has room for 8 (checked).
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn load_masked(t: Avx2, p: *const f32, n: usize) -> Self {
        // SAFETY: the token proves AVX2; the caller guarantees `n` readable
        // values at `p`, and masked-off lanes are not accessed.
        F32x8(unsafe { _mm256_maskload_ps(p, mask(t, n)) })
    }
    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, n: usize) {
        // SAFETY: `self` proves AVX2; the caller guarantees room for `n`
        // values at `p`, and masked-off lanes are not accessed.
        unsafe { _mm256_maskstore_ps(p, mask(self.token(), n), self.0) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: `self` proves FMA.
        F32x8(unsafe { _mm256_fmadd_ps(self.0, a.0, b.0) })
    }
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: `self` proves AVX.
        F32x8(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        // SAFETY: `self` proves AVX.
        unsafe {
            let bit = _mm256_set1_ps(-0.0);
            F32x8(_mm256_or_ps(_mm256_andnot_ps(bit, self.0), _mm256_and_ps(bit, sign.0)))
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: `self` proves AVX.
        F32x8(unsafe { _mm256_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: `a` proves AVX.
        F32x8(unsafe { _mm256_blendv_ps(f.0, t.0, _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0)) })
    }
    #[inline(always)]
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: `a` proves AVX.
        F32x8(unsafe { _mm256_blendv_ps(f.0, t.0, _mm256_cmp_ps::<_CMP_GT_OQ>(a.0, b.0)) })
    }
    #[inline(always)]
    fn pow2_split(t: Self) -> (Self, Self) {
        Self::pow2_split_bits(t)
    }
    #[inline(always)]
    fn mant_exp(x: Self) -> (Self, Self) {
        Self::mant_exp_bits(x)
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        // SAFETY: `self` proves AVX.
        unsafe {
            let q = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
            let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
            _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps::<1>(d, d)))
        }
    }
    #[inline(always)]
    fn prefetch(_: Self::Token, s: &[f32]) {
        prefetch_lines(s);
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        // SAFETY: `self` proves AVX.
        F32x8(unsafe { _mm256_max_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn nonzero_mask(self) -> u32 {
        // SAFETY: `self` proves AVX. Not-equal, unordered: NaN lanes
        // count, ±0 do not.
        unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(self.0, _mm256_setzero_ps())) as u32 }
    }
}

entry_points!(Avx2, F32x8, "avx2,fma", tile: 6 x 16, "12 ymm");

/// `dst[i·ldd + j] = src[j·ld + i]` for `i < 8`, `j < cols`, reading only
/// source rows `j < rows` (rows past that count as zero, so the destination
/// lines come out zero-padded from column `rows` to `cols`). Requires
/// `rows ≤ 8`, `cols ≤ 8`, `ldd ≥ cols`. Returns `false` (doing nothing)
/// when an argument is out of range or a slice too short: the 8-lane twin
/// of `avx512::transpose16`.
///
/// 8 loads, 24 shuffles and 8 to 24 plain stores instead of 64 scalar
/// moves. A line shorter than 8 is stored in pieces of 4, 2 and 1 lanes,
/// not by a masked store, which Zen 3 runs in microcode.
pub(crate) fn transpose8(_: Avx2, src: &[f32], dst: &mut [f32], sq: Square) -> bool {
    if !super::square_fits(8, src.len(), dst.len(), sq) {
        return false;
    }
    // SAFETY: the token proves AVX2; src holds `rows` rows of 8 values at
    // stride `ld` and dst 8 lines of `cols` values at stride `ldd` (both
    // checked above), which is all the function touches.
    unsafe { transpose8_raw(src.as_ptr(), dst.as_mut_ptr(), sq) }
    true
}

/// # Safety
/// AVX present; `src` readable for `rows ≤ 8` rows of 8 at stride `ld`,
/// `dst` writable for 8 lines of `1 ≤ cols ≤ 8` at stride `ldd`.
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose8_raw(src: *const f32, dst: *mut f32, sq: Square) {
    let Square { ld, rows, ldd, cols } = sq;
    let mut r = [_mm256_setzero_ps(); 8];
    for (i, v) in r.iter_mut().enumerate().take(rows) {
        // SAFETY: row i < rows of src, per the caller.
        *v = unsafe { _mm256_loadu_ps(src.add(i * ld)) };
    }
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit
    // halves: afterwards vector i holds column i.
    let mut t = [_mm256_setzero_ps(); 8];
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm256_setzero_ps(); 8];
    for b in [0, 4] {
        u[b] = _mm256_shuffle_ps::<0x44>(t[b], t[b + 2]);
        u[b + 1] = _mm256_shuffle_ps::<0xEE>(t[b], t[b + 2]);
        u[b + 2] = _mm256_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
        u[b + 3] = _mm256_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
    }
    for i in 0..4 {
        let lo = _mm256_permute2f128_ps::<0x20>(u[i], u[4 + i]);
        let hi = _mm256_permute2f128_ps::<0x31>(u[i], u[4 + i]);
        // SAFETY: lines i and 4 + i < 8 of dst, `cols` values each, per the
        // caller.
        unsafe {
            store_first(dst.add(i * ldd), lo, cols);
            store_first(dst.add((4 + i) * ldd), hi, cols);
        }
    }
}

/// `p[..n] ← v[..n]`, `1 ≤ n ≤ 8`, in plain stores of 8, 4, 2 and 1 lanes.
///
/// # Safety
/// AVX present; `p` writable for `n` values.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_first(p: *mut f32, v: __m256, n: usize) {
    if n == 8 {
        // SAFETY: 8 values at p, per the caller.
        return unsafe { _mm256_storeu_ps(p, v) };
    }
    let (mut q, mut at) = (_mm256_castps256_ps128(v), 0);
    if n >= 4 {
        // SAFETY: values 0..4 < n at p.
        unsafe { _mm_storeu_ps(p, q) };
        (q, at) = (_mm256_extractf128_ps::<1>(v), 4);
    }
    if n - at >= 2 {
        // SAFETY: values at..at+2 ≤ n at p.
        unsafe { _mm_storel_epi64(p.add(at) as *mut __m128i, _mm_castps_si128(q)) };
        (q, at) = (_mm_movehl_ps(q, q), at + 2);
    }
    if n > at {
        // SAFETY: value at < n at p.
        unsafe { _mm_store_ss(p.add(at), q) };
    }
}
