//! bf16 operands: the precision a product runs in, how its operands are
//! rounded and packed, and the plain twin of the bf16 products.
//!
//! In [`Precision::Bf16`] both operands of a product are rounded to bf16
//! (the top 16 bits of an f32: round to nearest even, a subnormal to a zero
//! of its sign, a NaN kept quiet) as they are packed, and the products
//! accumulate in f32. A product of two bf16 values is exact in f32, so the
//! only roundings are the additions', in this order, for each element of C:
//!
//! ```text
//! for each pair p of k (k = 2p and 2p+1, a missing k+1 past the end as 0):
//!     c ← c + a[2p+1]·b[2p+1]      one rounding to nearest even
//!     c ← c + a[2p]·b[2p]          one rounding to nearest even
//! ```
//!
//! starting from 0 or from C as in f32 ([`Acc`](super::micro::Acc)). That
//! is what VDPBF16PS (AVX512-BF16) does for one 32-bit lane, the odd k
//! first, and it flushes a subnormal sum to a zero of its sign. Where the
//! CPU has it, [`Packing::Pairs`] packs the two bf16 values of a pair into
//! one 32-bit slot for it; elsewhere [`Packing::Rounded`] packs the rounded
//! values as f32, each pair's odd k first, for the f32 microkernels, whose
//! multiply-adds then make the same sums (an exact product plus C, rounded
//! once), flushing excepted: the two differ only where a sum falls below
//! 2⁻¹²⁶. [`product`] is the plain twin of both.
//!
//! A product cut along k into calls that continue one chain must cut at an
//! even k: the trainer's shards and ranks do.

use crate::error::{Error, Result};

/// The precision of a product's operands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Precision {
    /// f32 operands, f32 sums.
    #[default]
    Fp32,
    /// Operands rounded to bf16 as they are packed, f32 sums (PyTorch's
    /// `autocast` for the products; parameters, activations and updates
    /// stay f32).
    Bf16,
}

impl Precision {
    /// Both precisions.
    pub const ALL: [Precision; 2] = [Precision::Fp32, Precision::Bf16];

    /// The name used by `--precision` and in model files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The precision named `s` (`fp32` or `bf16`, any case).
    pub fn parse(s: &str) -> Result<Precision> {
        let s = s.trim().to_ascii_lowercase();
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::config("precision", format!("expected fp32 or bf16, got {s:?}")))
    }

    /// The multiple of k at which a chain over k may be cut (2 in bf16,
    /// whose pairs of k are summed together).
    pub fn k_align(self) -> usize {
        match self {
            Precision::Fp32 => 1,
            Precision::Bf16 => 2,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `x` rounded to bf16, as its 16 bits: to nearest even, a subnormal to a
/// zero of its sign, a NaN to a quiet NaN (VCVTNEPS2BF16's rounding).
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        ((b >> 16) | 0x40) as u16
    } else if x.is_subnormal() {
        ((b >> 16) & 0x8000) as u16
    } else {
        (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
    }
}

/// The f32 of a bf16 value's bits.
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `x` rounded to bf16, as an f32.
#[inline]
pub fn round_bf16(x: f32) -> f32 {
    from_bf16(to_bf16(x))
}

/// How the panels of a product's operands hold k.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Packing {
    /// One f32 per k.
    F32,
    /// bf16 pairs: row p of a panel holds, in each 32-bit slot, k = 2p in
    /// the low half and k = 2p+1 in the high half (VDPBF16PS's layout),
    /// converted through the vector unit the token proves.
    #[cfg(target_arch = "x86_64")]
    Pairs(crate::kernels::arch::x86_64::avx512::Avx512Bf16),
    /// bf16 values as f32, each pair's odd k first: rows 2p and 2p+1 of a
    /// panel hold k = 2p+1 and k = 2p.
    Rounded,
}

impl Packing {
    /// Panel rows that `k` values of depth take.
    pub(crate) fn depth(self, k: usize) -> usize {
        match self {
            Packing::F32 => k,
            #[cfg(target_arch = "x86_64")]
            Packing::Pairs(_) => k.div_ceil(2),
            Packing::Rounded => k.div_ceil(2) * 2,
        }
    }

    /// Values of k in a depth block ([`gemm_layer`](super::gemm_layer)
    /// sums each block from 0): 256 in f32, 1024 in bf16, whose panels hold
    /// twice the k in the same bytes (in pairs) and whose microkernel runs
    /// half as many steps per k.
    pub(crate) fn kc(self) -> usize {
        match self {
            Packing::F32 => super::KC,
            _ => super::BF16_KC,
        }
    }

    /// Whether the panels hold bf16 pairs (for VDPBF16PS).
    pub(crate) fn is_pairs(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Packing::Pairs(_) = self {
            return true;
        }
        false
    }

    /// Whether packing converts (anything but f32).
    pub(crate) fn converts(self) -> bool {
        !matches!(self, Packing::F32)
    }

    /// Converts `src`, `2q` rows of `w` f32 (k-major, an even number of
    /// k), into `dst`'s `depth(2q)` rows of the panel.
    pub(crate) fn convert(self, dst: &mut [f32], src: &[f32], w: usize) {
        debug_assert!(src.len().is_multiple_of(2 * w) && dst.len() >= self.depth(src.len() / w) * w);
        match self {
            Packing::F32 => dst[..src.len()].copy_from_slice(src),
            #[cfg(target_arch = "x86_64")]
            Packing::Pairs(t) => crate::kernels::arch::x86_64::avx512::pair_rows(t, dst, src, w),
            Packing::Rounded => {
                for (d, s) in dst.chunks_exact_mut(2 * w).zip(src.chunks_exact(2 * w)) {
                    let (lo, hi) = s.split_at(w);
                    let (d_hi, d_lo) = d.split_at_mut(w);
                    d_hi.iter_mut().zip(hi).for_each(|(d, &x)| *d = round_bf16(x));
                    d_lo.iter_mut().zip(lo).for_each(|(d, &x)| *d = round_bf16(x));
                }
            }
        }
    }
}

/// The plain twin of [`Packing::Pairs`]' conversion: row p of `dst` from
/// rows 2p (low halves) and 2p+1 (high halves) of `src`.
#[cfg(test)]
pub(crate) fn pair_rows_scalar(dst: &mut [f32], src: &[f32], w: usize) {
    for (d, s) in dst.chunks_exact_mut(w).zip(src.chunks_exact(2 * w)) {
        let (lo, hi) = s.split_at(w);
        for ((d, &l), &h) in d.iter_mut().zip(lo).zip(hi) {
            *d = f32::from_bits(u32::from(to_bf16(l)) | (u32::from(to_bf16(h)) << 16));
        }
    }
}

/// `c + a·b` for bf16 `a`, `b` (an exact product), rounded once, a
/// subnormal result flushed to a zero of its sign: one half of VDPBF16PS.
#[inline]
pub fn dot_step(c: f32, a: f32, b: f32) -> f32 {
    let s = a.mul_add(b, c);
    if s.is_subnormal() {
        0.0f32.copysign(s)
    } else {
        s
    }
}

/// The plain twin of every bf16 product: `C (+)= round(A)·round(B)` with
/// `A` m×k and `B` k×n row-major, `C` m×n row-major, each element summed in
/// the order of the module's doc from 0 (or, with `accumulate`, from C).
pub fn product(a: &[f32], b: &[f32], c: &mut [f32], (m, k, n): (usize, usize, usize), accumulate: bool) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "bf16 product: slices too short");
    for i in 0..m {
        for j in 0..n {
            let x = |p: usize| if p < k { (round_bf16(a[i * k + p]), round_bf16(b[p * n + j])) } else { (0.0, 0.0) };
            let mut s = if accumulate { c[i * n + j] } else { 0.0 };
            for p in (0..k).step_by(2) {
                let ((a1, b1), (a0, b0)) = (x(p + 1), x(p));
                s = dot_step(dot_step(s, a1, b1), a0, b0);
            }
            c[i * n + j] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even_and_flushes_subnormals() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: to the even, 1.
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even.
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        assert_eq!(to_bf16(-f32::MIN_POSITIVE / 2.0), 0x8000);
        assert_eq!(to_bf16(f32::MAX), 0x7f80, "rounds up to infinity");
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert!(from_bf16(to_bf16(f32::from_bits(0x7f80_0001))).is_nan(), "a signalling NaN stays a NaN");
    }

    #[test]
    fn the_twin_sums_odd_k_first_and_pads_an_odd_k() {
        // From c = 2²⁴ (ulp 2): k = 1 first, 2²⁴ + 1 ties to 2²⁴, then + 2
        // gives 2²⁴ + 2; k = 0 first would give 2²⁴ + 2, then + 1 ties to
        // 2²⁴ + 4.
        let big = 2f32.powi(24);
        let mut c = [big];
        product(&[2.0, 1.0], &[1.0, 1.0], &mut c, (1, 2, 1), true);
        assert_eq!(c[0], big + 2.0);
        let mut c = [1.0];
        product(&[2.0], &[3.0], &mut c, (1, 1, 1), true);
        assert_eq!(c[0], 7.0, "an odd k is paired with a zero");
    }

    /// VCVTNEPS2BF16's conversion against [`to_bf16`], over random bit
    /// patterns (every class: zeros, subnormals, normals, infinities,
    /// NaNs) and the halfway cases, for panel widths 1 to 40.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_conversion_is_to_bf16() {
        use crate::kernels::arch::x86_64::avx512::{pair_rows, Avx512Bf16};
        let Some(t) = Avx512Bf16::detect() else {
            eprintln!("no AVX512-BF16 here: nothing to check");
            return;
        };
        let mut rng = crate::rng::Rng::new(5);
        let special = [0x0000_8000, 0x3f80_8000, 0x3f81_8000, 0x7f7f_ffff, 0x0000_0001, 0x807f_ffff, 0x7fc0_0000];
        for w in 1..=40 {
            let bits = (0..4 * w).map(|i| match i % 5 {
                0 => special[(i / 5) % special.len()],
                _ => (rng.below(1 << 32) as u32) ^ ((rng.below(4) as u32) << 30),
            });
            let src: Vec<f32> = bits.map(f32::from_bits).collect();
            let (mut got, mut want) = (vec![f32::NAN; 2 * w], vec![f32::NAN; 2 * w]);
            pair_rows(t, &mut got, &src, w);
            pair_rows_scalar(&mut want, &src, w);
            let (g, wn): (Vec<u32>, Vec<u32>) =
                (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
            assert_eq!(g, wn, "width {w}");
        }
    }

    #[test]
    fn precision_names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.name()).unwrap(), p);
        }
        assert!(Precision::parse("fp16").is_err());
    }
}
