//! AVX512-BF16 (Zen 4 and later, Cooper Lake and Sapphire Rapids on):
//! the token, the 12 × 32 VDPBF16PS microkernel and the packings that
//! round f32 operands into panels of bf16 pairs (see `gemm::bf16`).

use super::{mask, turn16, Avx512, F32x16};
use crate::kernels::arch::Token;
use crate::kernels::gemm::micro::{self, Microkernel};
use core::arch::x86_64::*;

/// Proof that this CPU runs AVX512-BF16 besides everything [`Avx512`]
/// proves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512Bf16(());

impl Avx512Bf16 {
    /// The token, if this CPU has AVX512-BF16 and the AVX-512 path.
    pub(crate) fn detect() -> Option<Avx512Bf16> {
        let yes = Avx512::detect().is_some() && is_x86_feature_detected!("avx512bf16");
        yes.then_some(Avx512Bf16(()))
    }

    /// The AVX-512 token this one includes.
    pub(crate) fn avx512(self) -> Avx512 {
        Avx512(())
    }
}

// SAFETY: the only safe constructor, `detect`, checks every feature the
// bf16 kernels are compiled with.
unsafe impl Token for Avx512Bf16 {
    unsafe fn new_unchecked() -> Self {
        Avx512Bf16(())
    }
}

/// The bf16 k step: VDPBF16PS, `c + a_hi·b_hi + a_lo·b_lo` per 32-bit lane
/// of bf16 pairs (see `gemm::bf16`).
#[derive(Clone, Copy)]
struct DotBf16(Avx512Bf16);

impl micro::Step<F32x16> for DotBf16 {
    #[inline(always)]
    fn token(self) -> Avx512 {
        self.0.avx512()
    }
    #[inline(always)]
    fn madd(self, a: F32x16, b: F32x16, c: F32x16) -> F32x16 {
        // SAFETY: `self` holds the token that proves AVX512-BF16; the
        // casts only rename 64 bytes of lanes (bf16 pairs in f32 slots).
        unsafe {
            let (a, b) = (std::mem::transmute::<__m512, __m512bh>(a.0), std::mem::transmute::<__m512, __m512bh>(b.0));
            F32x16(_mm512_dpbf16_ps(c.0, a, b))
        }
    }
}

/// The 6 × 64 bf16 tile: [`micro::tile`] with VDPBF16PS over panels of
/// bf16 pairs ([`Packing::Pairs`](crate::kernels::gemm::bf16)).
///
/// # Safety
/// As [`micro::KernelFn`]; the CPU runs the features.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma,avx512bf16")]
unsafe fn tile_bf16(a: &[f32], b: &[f32], c: micro::CTile, acc: micro::Acc) {
    // SAFETY: this function's own contract is that the CPU runs the features.
    let t = unsafe { Avx512Bf16::new_unchecked() };
    // An edge tile of C (an output layer of 10 columns) runs only the
    // vectors its columns reach.
    const MR: usize = BF16_TILE.0;
    // SAFETY: the caller's guarantees about C are the tile's; c.n ≤ 16·NV
    // in each arm.
    unsafe {
        match c.n.div_ceil(16) {
            1 => micro::tile::<F32x16, MR, 1, 4>(DotBf16(t), a, b, c, acc),
            2 => micro::tile::<F32x16, MR, 2, 4>(DotBf16(t), a, b, c, acc),
            3 => micro::tile::<F32x16, MR, 3, 4>(DotBf16(t), a, b, c, acc),
            _ => micro::tile::<F32x16, MR, 4, 4>(DotBf16(t), a, b, c, acc),
        }
    }
}

/// The bf16 tile `(MR, NR)`: 6 rows of four vectors (24 accumulators).
/// Each broadcast value of Ã feeds four VDPBF16PS: on Zen 4 the
/// broadcasts compete with them for the vector pipes, and measured on the
/// XL forward (1024-4096-4096-1024, 512 rows, one core) 6 × 64 ran at
/// 186-195 GFLOP/s where 12 × 32 (two per broadcast) ran at 171-181 and
/// 24 × 16 (one) at 131-139.
pub(crate) const BF16_TILE: (usize, usize) = (6, 64);

/// The bf16 GEMM microkernel, of [`BF16_TILE`].
pub(crate) fn bf16_microkernel(_: Avx512Bf16) -> Microkernel {
    // SAFETY: the token proves that this CPU runs the features.
    unsafe { Microkernel::new(tile_bf16, BF16_TILE.0, BF16_TILE.1) }
}

/// `dst` row p ← rows 2p (low halves) and 2p+1 (high halves) of `src`
/// rounded to bf16 pairs, `w` values a row: `gemm::bf16::pair_rows_scalar`
/// through VCVTNEPS2BF16.
pub(crate) fn pair_rows(t: Avx512Bf16, dst: &mut [f32], src: &[f32], w: usize) {
    let rows = src.len() / (2 * w);
    assert!(dst.len() >= rows * w, "pair_rows: destination too short");
    // SAFETY: the token proves the features; every access below is inside
    // `src` (rows·2w values) or `dst` (rows·w, checked), lanes past a
    // row's `w` masked off.
    unsafe { pair_rows_raw(t, dst.as_mut_ptr(), src.as_ptr(), rows, w) }
}

/// # Safety
/// AVX512-BF16 present; `src` readable for `rows·2w` values, `dst`
/// writable for `rows·w`.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma,avx512bf16")]
unsafe fn pair_rows_raw(_: Avx512Bf16, dst: *mut f32, src: *const f32, rows: usize, w: usize) {
    for p in 0..rows {
        for j in (0..w).step_by(16) {
            let m = mask(w - j);
            // SAFETY: lanes j.. of rows 2p and 2p+1 of src and of row p of
            // dst, masked to the row's w values (the caller's bounds).
            unsafe {
                let lo = _mm512_maskz_loadu_ps(m, src.add(2 * p * w + j));
                let hi = _mm512_maskz_loadu_ps(m, src.add((2 * p + 1) * w + j));
                let lo = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(lo)));
                let hi = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(hi)));
                let pair = _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi));
                _mm512_mask_storeu_ps(dst.add(p * w + j), m, _mm512_castsi512_ps(pair));
            }
        }
    }
}

/// Where a panel's lines lie for the direct bf16 packings: `valid ≤ w`
/// lines of `kc` values of depth, `stride` apart (between values of k for
/// [`pairs_from_runs`], between lines for [`pairs_from_lines`]), packed
/// into `⌈kc/2⌉` rows of `w ≤ 64` pairs, lines past `valid` zero.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PairPanel {
    pub stride: usize,
    pub valid: usize,
    pub w: usize,
    pub kc: usize,
}

impl PairPanel {
    fn fits(&self, src_len: usize, dst_len: usize, src_need: usize) -> bool {
        self.valid <= self.w
            && self.w <= 64
            && self.kc > 0
            && src_need <= src_len
            && self.kc.div_ceil(2) * self.w <= dst_len
    }
}

/// The pairs panels of a whole block from runs: the `count` lines of value
/// k lie together at `src[k·stride..]` (a row-major B, a transposed A).
/// Panel `n` (lines `n·w..`, the last zero-padded) fills
/// `dst[n·⌈kc/2⌉·w..]`, its row p holding k = 2p and 2p+1 (the latter 0
/// past `kc`), as `gemm::bf16::Packing::Pairs` packs them. Each pair of
/// rows is read along its whole length, panel after panel: the source is
/// streamed in order, not one panel's width at a time. `false` (nothing
/// done) when a slice is short.
pub(crate) fn pairs_from_runs(t: Avx512Bf16, dst: &mut [f32], src: &[f32], p: PairPanel) -> bool {
    let PairPanel { stride, valid: count, w, kc } = p;
    let need = (kc.max(1) - 1) * stride + count;
    if w == 0 || w > 64 || kc == 0 || need > src.len() || count.div_ceil(w) * kc.div_ceil(2) * w > dst.len() {
        return false;
    }
    // SAFETY: the token proves the features; src holds rows k < kc of
    // `count` values `stride` apart and dst the block's panels (checked).
    unsafe { runs_raw(t, dst.as_mut_ptr(), src.as_ptr(), p) };
    true
}

/// # Safety
/// AVX512-BF16 present; `src` readable for `count` values at each
/// `k·stride`, `k < kc`; `dst` writable for `⌈count/w⌉·⌈kc/2⌉·w` values.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma,avx512bf16")]
unsafe fn runs_raw(_: Avx512Bf16, dst: *mut f32, src: *const f32, p: PairPanel) {
    let PairPanel { stride, valid: count, w, kc } = p;
    let panel = kc.div_ceil(2) * w;
    for q in 0..kc.div_ceil(2) {
        let (lo_row, hi_row) = (src.wrapping_add(2 * q * stride), src.wrapping_add((2 * q + 1) * stride));
        for n in 0..count.div_ceil(w) {
            for j in (0..w).step_by(16) {
                let (c, m) = (n * w + j, mask(count.saturating_sub(n * w + j).min(w - j)));
                // SAFETY: columns c.. below `count` of rows 2q and 2q+1 < kc
                // of src (masked; an address past src's end is formed by
                // wrapping_add and never read), and lanes j.. below w of
                // row q of panel n of dst (the caller's bounds).
                unsafe {
                    let lo = _mm512_maskz_loadu_ps(m, lo_row.wrapping_add(c));
                    let hi = if 2 * q + 1 < kc {
                        _mm512_maskz_loadu_ps(m, hi_row.wrapping_add(c))
                    } else {
                        _mm512_setzero_ps()
                    };
                    let lo = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(lo)));
                    let hi = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(hi)));
                    let pair = _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi));
                    _mm512_mask_storeu_ps(dst.add(n * panel + q * w + j), mask(w - j), _mm512_castsi512_ps(pair));
                }
            }
        }
    }
}

/// The pairs panel from lines: line j's `kc` values lie together at
/// `src[j·stride..]` (a row-major A, a transposed B). Each line's values
/// are converted 32 at a time into 16 pairs (VCVTNE2PS2BF16 keeps k's
/// order, so a 32-bit slot holds k = 2p low, 2p+1 high), then 16 lines ×
/// 16 pairs turn through the 16 × 16 register transpose into the panel's
/// rows. `false` (nothing done) when a slice is short.
pub(crate) fn pairs_from_lines(t: Avx512Bf16, dst: &mut [f32], src: &[f32], p: PairPanel) -> bool {
    if !p.fits(src.len(), dst.len(), p.valid.saturating_sub(1) * p.stride + p.kc) {
        return false;
    }
    // SAFETY: the token proves the features; src holds lines j < valid of
    // kc values `stride` apart and dst ⌈kc/2⌉ rows of w (checked).
    unsafe { lines_raw(t, dst.as_mut_ptr(), src.as_ptr(), p) };
    true
}

/// # Safety
/// AVX512-BF16 present; `src` readable for `kc` values at each
/// `j·stride`, `j < valid`; `dst` writable for `⌈kc/2⌉·w` values.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma,avx512bf16")]
unsafe fn lines_raw(_: Avx512Bf16, dst: *mut f32, src: *const f32, p: PairPanel) {
    let PairPanel { stride, valid, w, kc } = p;
    let pairs = kc.div_ceil(2);
    for p0 in (0..pairs).step_by(16) {
        let (np, k0) = (16.min(pairs - p0), 2 * p0);
        let (m0, m1) = (mask(kc - k0), mask((kc - k0).saturating_sub(16)));
        for jb in (0..w).step_by(16) {
            let (lines, vl) = (16.min(w - jb), valid.saturating_sub(jb).min(16));
            let mut sq = [_mm512_setzero_ps(); 16];
            for (j, v) in sq.iter_mut().enumerate().take(vl) {
                // SAFETY: values k0.. below kc of line jb + j < valid of src
                // (masked; the second half only when it has values).
                unsafe {
                    let line = src.add((jb + j) * stride + k0);
                    let lo = _mm512_maskz_loadu_ps(m0, line);
                    let hi = if kc - k0 > 16 { _mm512_maskz_loadu_ps(m1, line.add(16)) } else { _mm512_setzero_ps() };
                    *v = _mm512_castsi512_ps(std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
                }
            }
            // 16 lines of 16 pairs → 16 pair rows of `lines` lanes.
            let m = mask(lines);
            // SAFETY: this function is compiled with AVX-512F.
            let turned = unsafe { turn16(sq) };
            for (q, v) in turned.into_iter().enumerate().take(np) {
                // SAFETY: row p0 + q < ⌈kc/2⌉ of dst, lanes jb.. below w
                // (the caller's bounds); masked-off lanes are not accessed.
                unsafe { _mm512_mask_storeu_ps(dst.add((p0 + q) * w + jb), m, v) };
            }
        }
    }
}
