//! AVX-512 (Skylake-X and later, Zen 4): the token, the 16-lane vector
//! type, the kernel table, the 12 × 32 GEMM microkernel and the 16 × 16
//! register transpose used by the packings; [`bf16`] holds the AVX512-BF16
//! kernels.

mod bf16;

pub(crate) use bf16::{
    bf16_microkernel, pair_rows, pairs_from_lines, pairs_from_runs, Avx512Bf16, PairPanel, BF16_TILE,
};

use super::{entry_points, exponent_bits, lane_type, prefetch_lines};
use crate::kernels::arch::{Lane, Square, Token};
use crate::kernels::gemm::micro::{self, Microkernel};
use crate::kernels::simd::{table, Table};
use core::arch::x86_64::*;

/// Proof that this CPU runs AVX-512F, VL and DQ, AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token, if this CPU has every feature the path uses.
    pub(crate) fn detect() -> Option<Avx512> {
        let yes = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma");
        yes.then_some(Avx512(()))
    }
}

// SAFETY: the only safe constructor, `detect`, checks every feature the
// path's code is compiled with.
unsafe impl Token for Avx512 {
    unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

lane_type!(F32x16, __m512, _mm512_add_ps, _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps, _mm512_xor_ps, _mm512_set1_ps);

exponent_bits!(
    F32x16,
    _mm512_castps_si512,
    _mm512_castsi512_ps,
    _mm512_sub_epi32,
    _mm512_add_epi32,
    _mm512_srai_epi32,
    _mm512_slli_epi32,
    _mm512_srli_epi32,
    _mm512_and_si512,
    _mm512_or_si512,
    _mm512_set1_epi32,
    _mm512_cvtepi32_ps
);

/// The mask of lanes `0..n` (all 16 from `n = 16` on).
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

impl Lane for F32x16 {
    type Token = Avx512;
    const N: usize = 16;
    #[inline(always)]
    fn token(self) -> Avx512 {
        Avx512(())
    }
    #[inline(always)]
    fn splat(_: Avx512, v: f32) -> Self {
        // SAFETY: the token proves AVX-512F.
        F32x16(unsafe { _mm512_set1_ps(v) })
    }
    #[inline(always)]
    fn load(_: Avx512, s: &[f32]) -> Self {
        assert!(s.len() >= 16);
        // SAFETY: the token proves AVX-512F; `s` holds 16 values (checked).
        F32x16(unsafe { _mm512_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        assert!(s.len() >= 16);
        // SAFETY: `self` proves AVX-512F; `s` has room for 16 (checked).
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn load_masked(_: Avx512, p: *const f32, n: usize) -> Self {
        // SAFETY: the token proves AVX-512F; the caller guarantees `n`
        // readable values at `p`, and masked-off lanes are not accessed.
        F32x16(unsafe { _mm512_maskz_loadu_ps(mask(n), p) })
    }
    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, n: usize) {
        // SAFETY: `self` proves AVX-512F; the caller guarantees room for `n`
        // values at `p`, and masked-off lanes are not accessed.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), self.0) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: `self` proves AVX-512F.
        F32x16(unsafe { _mm512_fmadd_ps(self.0, a.0, b.0) })
    }
    #[inline(always)]
    fn abs(self) -> Self {
        // SAFETY: `self` proves AVX-512F and DQ.
        F32x16(unsafe { _mm512_andnot_ps(_mm512_set1_ps(-0.0), self.0) })
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        // SAFETY: `self` proves AVX-512F and DQ.
        unsafe {
            let bit = _mm512_set1_ps(-0.0);
            F32x16(_mm512_or_ps(_mm512_andnot_ps(bit, self.0), _mm512_and_ps(bit, sign.0)))
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // SAFETY: `self` proves AVX-512F.
        F32x16(unsafe { _mm512_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: `a` proves AVX-512F.
        F32x16(unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0), f.0, t.0) })
    }
    #[inline(always)]
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: `a` proves AVX-512F.
        F32x16(unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(a.0, b.0), f.0, t.0) })
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
        // SAFETY: `self` proves AVX-512F, AVX2 and AVX-512DQ.
        unsafe {
            let lo = _mm512_castps512_ps256(self.0);
            let hi = _mm512_extractf32x8_ps::<1>(self.0);
            let q = _mm256_add_ps(lo, hi);
            let q = _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps::<1>(q));
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
        // SAFETY: `self` proves AVX-512F.
        F32x16(unsafe { _mm512_max_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn nonzero_mask(self) -> u32 {
        // SAFETY: `self` proves AVX-512F. Not-equal, unordered: NaN lanes
        // count, ±0 do not.
        u32::from(unsafe { _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(self.0, _mm512_setzero_ps()) })
    }
}

entry_points!(Avx512, F32x16, "avx512f,avx512vl,avx512dq,avx2,fma", tile: 12 x 32, "24 zmm");

/// `dst[i·ldd + j] = src[j·ld + i]` for `i < 16`, `j < cols`, reading only
/// source rows `j < rows` (rows past that count as zero, so the destination
/// lines come out zero-padded from column `rows` to `cols`). Requires
/// `rows ≤ 16`, `cols ≤ 16`, `ldd ≥ cols`. Returns `false` (doing nothing)
/// when an argument is out of range or a slice too short.
///
/// 16 loads, 64 shuffles and 16 stores instead of 256 scalar moves: the
/// packings that turn rows into columns go through it.
pub(crate) fn transpose16(_: Avx512, src: &[f32], dst: &mut [f32], sq: Square) -> bool {
    if !super::square_fits(16, src.len(), dst.len(), sq) {
        return false;
    }
    // SAFETY: the token proves AVX-512F; src holds `rows` rows of 16 values
    // at stride `ld` and dst 16 lines of `cols` values at stride `ldd`
    // (both checked above), which is all the function touches.
    unsafe { transpose16_raw(src.as_ptr(), dst.as_mut_ptr(), sq) }
    true
}

/// # Safety
/// AVX-512F present; `src` readable for `rows ≤ 16` rows of 16 at stride
/// `ld`, `dst` writable for 16 lines of `1 ≤ cols ≤ 16` at stride `ldd`.
#[target_feature(enable = "avx512f")]
unsafe fn transpose16_raw(src: *const f32, dst: *mut f32, sq: Square) {
    let Square { ld, rows, ldd, cols } = sq;
    let mut r = [_mm512_setzero_ps(); 16];
    for (i, v) in r.iter_mut().enumerate().take(rows) {
        // SAFETY: row i < rows of src, per the caller.
        *v = unsafe { _mm512_loadu_ps(src.add(i * ld)) };
    }
    let m = mask(cols);
    // SAFETY: AVX-512F, per the caller.
    let turned = unsafe { turn16(r) };
    for (i, v) in turned.into_iter().enumerate() {
        // SAFETY: line i < 16 of dst, lanes below cols, per the caller;
        // masked-off lanes are not accessed.
        unsafe { _mm512_mask_storeu_ps(dst.add(i * ldd), m, v) };
    }
}

/// The 16 × 16 transpose in registers: vector i of the result holds lane
/// i of every vector of `r` (lane j from `r[j]`).
///
/// # Safety
/// AVX-512F present (the caller is compiled with it).
#[inline(always)]
unsafe fn turn16(r: [__m512; 16]) -> [__m512; 16] {
    // SAFETY (every block below): AVX-512F, per the caller.
    // Pairs of rows interleaved, then pairs of pairs, then 128-bit lanes
    // twice: after four stages vector i holds column i.
    let mut t = r;
    for i in 0..8 {
        // SAFETY: as above.
        unsafe {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
    }
    let mut u = t;
    for b in (0..16).step_by(4) {
        // SAFETY: as above.
        unsafe {
            u[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
            u[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
            u[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            u[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
        }
    }
    let mut v = u;
    for b in [0, 8] {
        for i in 0..4 {
            // SAFETY: as above.
            unsafe {
                v[b + i] = _mm512_shuffle_f32x4::<0x88>(u[b + i], u[b + 4 + i]);
                v[b + 4 + i] = _mm512_shuffle_f32x4::<0xDD>(u[b + i], u[b + 4 + i]);
            }
        }
    }
    let mut out = v;
    for i in 0..8 {
        // SAFETY: as above.
        unsafe {
            out[i] = _mm512_shuffle_f32x4::<0x88>(v[i], v[8 + i]);
            out[8 + i] = _mm512_shuffle_f32x4::<0xDD>(v[i], v[8 + i]);
        }
    }
    out
}
