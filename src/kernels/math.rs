//! Branch-free f32 math written once over a [`Lane`]: an x86 vector register
//! (`kernels::x86`) or a `wide` vector.
//!
//! `exp` is Cephes' `expf` (Cody-Waite reduction, degree-6 polynomial,
//! ≤ 1 ulp) with a two-step scale so that subnormal results are rounded
//! correctly instead of flushed; `ln` is Cephes' `logf`; `tanh` is Cephes'
//! `tanhf` (polynomial below 0.625). NaN inputs give NaN outputs: every clamp
//! is a select on an ordered comparison, which NaN fails.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// The operations the math below needs from one SIMD width.
pub(crate) trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self>
{
    /// Number of f32 lanes.
    const N: usize;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// `self * a + b`, fused where the instruction set has FMA.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// Square root, correctly rounded.
    fn sqrt(self) -> Self;
    /// Per lane: `if a < b { t } else { f }`.
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self;
    /// Per lane: `if a > b { t } else { f }`.
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self;
    /// Given `t = x + 1.5·2²³` whose low bits hold an integer n in
    /// [-150, 128], returns `(2^(n>>1), 2^(n-(n>>1)))`, both normal.
    fn pow2_split(t: Self) -> (Self, Self);
    /// For positive normal `x`: `(m, e)` with `x = m·2^e`, `m ∈ [1, 2)`.
    fn mant_exp(x: Self) -> (Self, Self);
    /// Loads `N` values from the front of `s` (which holds at least `N`).
    fn load(s: &[f32]) -> Self;
    /// Stores into the front of `s` (which holds at least `N`).
    fn store(self, s: &mut [f32]);
    /// Loads `s.len() < N` values, the other lanes zero.
    fn load_partial(s: &[f32]) -> Self;
    /// Stores the first `s.len() < N` lanes.
    fn store_partial(self, s: &mut [f32]);
    /// Sum of the lanes.
    fn reduce_add(self) -> f32;
    /// Maximum of the lanes.
    fn reduce_max(self) -> f32;
    /// Lane-wise maximum (NaN-propagation unspecified; used on finite data).
    fn max(self, o: Self) -> Self;
}

impl Lane for wide::f32x8 {
    const N: usize = 8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        wide::f32x8::splat(v)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        wide::f32x8::mul_add(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        wide::f32x8::abs(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        wide::f32x8::sqrt(self)
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self {
        a.simd_lt(b).select(t, f)
    }
    #[inline(always)]
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self {
        a.simd_gt(b).select(t, f)
    }
    #[inline(always)]
    fn pow2_split(t: Self) -> (Self, Self) {
        let n = t.to_bits().cast_signed() - wide::i32x8::splat(0x4B40_0000);
        let n1 = n >> 1u32;
        let n2 = n - n1;
        let bias = wide::i32x8::splat(127);
        (
            wide::f32x8::from_bits(((n1 + bias) << 23u32).cast_unsigned()),
            wide::f32x8::from_bits(((n2 + bias) << 23u32).cast_unsigned()),
        )
    }
    #[inline(always)]
    fn mant_exp(x: Self) -> (Self, Self) {
        let b = x.to_bits();
        let e = ((b >> 23u32) & wide::u32x8::splat(0xff)).cast_signed() - wide::i32x8::splat(127);
        let m = wide::f32x8::from_bits((b & wide::u32x8::splat(0x007f_ffff)) | wide::u32x8::splat(0x3f80_0000));
        (m, wide::f32x8::from_i32x8(e))
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let a: [f32; 8] = s[..8].try_into().expect("load takes 8 lanes");
        wide::f32x8::new(a)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(self.as_array());
    }
    #[inline(always)]
    fn load_partial(s: &[f32]) -> Self {
        let mut a = [0.0f32; 8];
        a[..s.len()].copy_from_slice(s);
        wide::f32x8::new(a)
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32]) {
        let n = s.len();
        s.copy_from_slice(&self.as_array()[..n]);
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        wide::f32x8::reduce_add(self)
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self.as_array().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        wide::f32x8::max(self, o)
    }
}

/// Inputs below this give `e^x = 0` in f32 (ln 2⁻¹⁵⁰).
const EXP_LO: f32 = -103.972_08;
/// Inputs above this give `e^x = +inf` in f32 (ln of the largest f32).
const EXP_HI: f32 = 88.722_83;
const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer

/// `e^x` to ≤ 1 ulp, subnormal results included; `x > 88.72` gives +inf,
/// `x < -103.97` gives 0.
#[inline(always)]
pub(crate) fn exp<V: Lane>(x: V) -> V {
    let s = V::splat;
    let xc = V::select_lt(x, s(EXP_LO), s(EXP_LO), x);
    let xc = V::select_gt(xc, s(EXP_HI), s(EXP_HI), xc);
    let t = xc.mul_add(s(std::f32::consts::LOG2_E), s(MAGIC));
    let n = t - s(MAGIC);
    // Cody-Waite: ln 2 = 0.693359375 - 2.12194440e-4, the first part exact.
    let r = n.mul_add(s(-0.693_359_4), xc);
    let r = n.mul_add(s(2.121_944_4e-4), r);
    let p = s(1.987_569_1e-4)
        .mul_add(r, s(1.398_199_9e-3))
        .mul_add(r, s(8.333_452e-3))
        .mul_add(r, s(4.166_579_6e-2))
        .mul_add(r, s(1.666_666_5e-1))
        .mul_add(r, s(0.5));
    let p = p.mul_add(r * r, r) + s(1.0);
    let (s1, s2) = V::pow2_split(t);
    let y = p * s1 * s2;
    let y = V::select_lt(x, s(EXP_LO), s(0.0), y);
    V::select_gt(x, s(EXP_HI), s(f32::INFINITY), y)
}

/// Natural log of a positive normal `x` (Cephes `logf`, ≤ 1 ulp on [1, 2]).
#[inline(always)]
pub(crate) fn ln<V: Lane>(x: V) -> V {
    let s = V::splat;
    let (m, e) = V::mant_exp(x);
    let big = V::select_gt(m, s(std::f32::consts::SQRT_2), s(1.0), s(0.0));
    let m = m * (s(1.0) - s(0.5) * big);
    let e = e + big;
    let f = m - s(1.0);
    let z = f * f;
    let y = s(7.037_683_6e-2)
        .mul_add(f, s(-1.151_461e-1))
        .mul_add(f, s(1.167_699_9e-1))
        .mul_add(f, s(-1.242_014_1e-1))
        .mul_add(f, s(1.424_932_3e-1))
        .mul_add(f, s(-1.666_805_8e-1))
        .mul_add(f, s(2.000_071_4e-1))
        .mul_add(f, s(-2.499_999_4e-1))
        .mul_add(f, s(3.333_333e-1));
    let y = y * f * z;
    let y = e.mul_add(s(-2.121_944_4e-4), y);
    let y = z.mul_add(s(-0.5), y);
    e.mul_add(s(0.693_359_4), f + y)
}

/// `ln(1 + z)` for `z ≥ 0`, accurate for tiny `z` (Goldberg's correction).
#[inline(always)]
pub(crate) fn ln_1p<V: Lane>(z: V) -> V {
    let s = V::splat;
    let u = s(1.0) + z;
    let d = u - s(1.0);
    // d is exactly 0 when z < 2⁻²⁴, where ln(1 + z) = z to within rounding.
    let safe_d = V::select_lt(d, s(f32::MIN_POSITIVE), s(1.0), d);
    V::select_lt(d, s(f32::MIN_POSITIVE), z, ln(u) * (z / safe_d))
}

/// `σ(x) = 1/(1+e^-x)`, evaluated as `1/(1+z)` or `z/(1+z)` with
/// `z = e^-|x|`, so neither branch overflows and tiny results stay accurate.
#[inline(always)]
pub(crate) fn sigmoid<V: Lane>(x: V) -> V {
    let s = V::splat;
    let z = exp(-x.abs());
    let num = V::select_lt(x, s(0.0), z, s(1.0));
    num / (s(1.0) + z)
}

/// `tanh(x)`: an odd polynomial for |x| < 0.625, else `(1-z)/(1+z)` with
/// `z = e^-2|x|`.
#[inline(always)]
pub(crate) fn tanh<V: Lane>(x: V) -> V {
    let s = V::splat;
    let a = x.abs();
    let a2 = a * a;
    let p = s(-5.704_988_7e-3)
        .mul_add(a2, s(2.063_909e-2))
        .mul_add(a2, s(-5.373_971_6e-2))
        .mul_add(a2, s(1.333_144_2e-1))
        .mul_add(a2, s(-3.333_328e-1));
    let small = (p * a2).mul_add(a, a);
    let z = exp(s(-2.0) * a);
    let large = (s(1.0) - z) / (s(1.0) + z);
    let r = V::select_lt(a, s(0.625), small, large);
    V::select_lt(x, s(0.0), -r, r)
}

/// `softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)`, exact at ±1000.
#[inline(always)]
pub(crate) fn softplus<V: Lane>(x: V) -> V {
    let s = V::splat;
    let pos = V::select_gt(x, s(0.0), x, s(0.0));
    pos + ln_1p(exp(-x.abs()))
}
