//! Branch-free f32 math written once over a [`Lane`]: an x86 vector register
//! or a `wide` vector (`kernels::arch`).
//!
//! `exp` is Cephes' `expf` (Cody-Waite reduction, degree-6 polynomial,
//! ≤ 1 ulp) with a two-step scale so that subnormal results are rounded
//! correctly instead of flushed; `ln` is Cephes' `logf`; `tanh` is Cephes'
//! `tanhf` (polynomial below 0.625). NaN inputs give NaN outputs: every clamp
//! is a select on an ordered comparison, which NaN fails.

use super::arch::Lane;

/// Inputs below this give `e^x = 0` in f32 (ln 2⁻¹⁵⁰).
const EXP_LO: f32 = -103.972_08;
/// Inputs above this give `e^x = +inf` in f32 (ln of the largest f32).
const EXP_HI: f32 = 88.722_83;
const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer

/// `e^x` to ≤ 1 ulp, subnormal results included; `x > 88.72` gives +inf,
/// `x < -103.97` gives 0.
#[inline(always)]
pub(crate) fn exp<V: Lane>(x: V) -> V {
    let tk = x.token();
    let xc = V::select_lt(x, V::splat(tk, EXP_LO), V::splat(tk, EXP_LO), x);
    let xc = V::select_gt(xc, V::splat(tk, EXP_HI), V::splat(tk, EXP_HI), xc);
    let t = xc.mul_add(V::splat(tk, std::f32::consts::LOG2_E), V::splat(tk, MAGIC));
    let n = t - V::splat(tk, MAGIC);
    // Cody-Waite: ln 2 = 0.693359375 - 2.12194440e-4, the first part exact.
    let r = n.mul_add(V::splat(tk, -0.693_359_4), xc);
    let r = n.mul_add(V::splat(tk, 2.121_944_4e-4), r);
    let p = V::splat(tk, 1.987_569_1e-4)
        .mul_add(r, V::splat(tk, 1.398_199_9e-3))
        .mul_add(r, V::splat(tk, 8.333_452e-3))
        .mul_add(r, V::splat(tk, 4.166_579_6e-2))
        .mul_add(r, V::splat(tk, 1.666_666_5e-1))
        .mul_add(r, V::splat(tk, 0.5));
    let p = p.mul_add(r * r, r) + V::splat(tk, 1.0);
    let (s1, s2) = V::pow2_split(t);
    let y = p * s1 * s2;
    let y = V::select_lt(x, V::splat(tk, EXP_LO), V::splat(tk, 0.0), y);
    V::select_gt(x, V::splat(tk, EXP_HI), V::splat(tk, f32::INFINITY), y)
}

/// Natural log of a positive normal `x` (Cephes `logf`, ≤ 1 ulp on [1, 2]).
#[inline(always)]
pub(crate) fn ln<V: Lane>(x: V) -> V {
    let tk = x.token();
    let (m, e) = V::mant_exp(x);
    let big = V::select_gt(m, V::splat(tk, std::f32::consts::SQRT_2), V::splat(tk, 1.0), V::splat(tk, 0.0));
    let m = m * (V::splat(tk, 1.0) - V::splat(tk, 0.5) * big);
    let e = e + big;
    let f = m - V::splat(tk, 1.0);
    let z = f * f;
    let y = V::splat(tk, 7.037_683_6e-2)
        .mul_add(f, V::splat(tk, -1.151_461e-1))
        .mul_add(f, V::splat(tk, 1.167_699_9e-1))
        .mul_add(f, V::splat(tk, -1.242_014_1e-1))
        .mul_add(f, V::splat(tk, 1.424_932_3e-1))
        .mul_add(f, V::splat(tk, -1.666_805_8e-1))
        .mul_add(f, V::splat(tk, 2.000_071_4e-1))
        .mul_add(f, V::splat(tk, -2.499_999_4e-1))
        .mul_add(f, V::splat(tk, 3.333_333e-1));
    let y = y * f * z;
    let y = e.mul_add(V::splat(tk, -2.121_944_4e-4), y);
    let y = z.mul_add(V::splat(tk, -0.5), y);
    e.mul_add(V::splat(tk, 0.693_359_4), f + y)
}

/// `ln(1 + z)` for `z ≥ 0`, accurate for tiny `z` (Goldberg's correction).
#[inline(always)]
pub(crate) fn ln_1p<V: Lane>(z: V) -> V {
    let tk = z.token();
    let u = V::splat(tk, 1.0) + z;
    let d = u - V::splat(tk, 1.0);
    // d is exactly 0 when z < 2⁻²⁴, where ln(1 + z) = z to within rounding.
    let safe_d = V::select_lt(d, V::splat(tk, f32::MIN_POSITIVE), V::splat(tk, 1.0), d);
    V::select_lt(d, V::splat(tk, f32::MIN_POSITIVE), z, ln(u) * (z / safe_d))
}

/// `σ(x) = 1/(1+e^-x)`, evaluated as `1/(1+z)` or `z/(1+z)` with
/// `z = e^-|x|`, so neither branch overflows and tiny results stay accurate.
#[inline(always)]
pub(crate) fn sigmoid<V: Lane>(x: V) -> V {
    let tk = x.token();
    let z = exp(-x.abs());
    let num = V::select_lt(x, V::splat(tk, 0.0), z, V::splat(tk, 1.0));
    num / (V::splat(tk, 1.0) + z)
}

/// `tanh(x)`: an odd polynomial for |x| < 0.625, else `(1-z)/(1+z)` with
/// `z = e^-2|x|`.
#[inline(always)]
pub(crate) fn tanh<V: Lane>(x: V) -> V {
    let tk = x.token();
    let a = x.abs();
    let a2 = a * a;
    let p = V::splat(tk, -5.704_988_7e-3)
        .mul_add(a2, V::splat(tk, 2.063_909e-2))
        .mul_add(a2, V::splat(tk, -5.373_971_6e-2))
        .mul_add(a2, V::splat(tk, 1.333_144_2e-1))
        .mul_add(a2, V::splat(tk, -3.333_328e-1));
    let small = (p * a2).mul_add(a, a);
    let z = exp(V::splat(tk, -2.0) * a);
    let large = (V::splat(tk, 1.0) - z) / (V::splat(tk, 1.0) + z);
    // |tanh x| with the sign of x, so that tanh(-0) = -0 as in the twin.
    V::select_lt(a, V::splat(tk, 0.625), small, large).copysign(x)
}

/// `softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)`, exact at ±1000.
#[inline(always)]
pub(crate) fn softplus<V: Lane>(x: V) -> V {
    let tk = x.token();
    let pos = V::select_gt(x, V::splat(tk, 0.0), x, V::splat(tk, 0.0));
    pos + ln_1p(exp(-x.abs()))
}
