//! The portable vector path: [`Lane`] for `wide::f32x8`, whose instructions
//! are fixed when the crate is compiled (SSE2 in a default x86-64 build,
//! NEON on aarch64), so every CPU the build runs on runs them.

use super::{Lane, Token};
use wide::{f32x8, i32x8, u32x8};

/// The portable path's token: always available.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wide(());

impl Wide {
    /// The token (every CPU this build runs on runs `wide`'s instructions).
    pub(crate) fn new() -> Wide {
        Wide(())
    }
}

// SAFETY: `wide` compiles to the build's baseline instructions, which every
// CPU that runs this binary has, so a token may exist anywhere.
unsafe impl Token for Wide {
    unsafe fn new_unchecked() -> Self {
        Wide(())
    }
}

impl Lane for f32x8 {
    type Token = Wide;
    const N: usize = 8;
    #[inline(always)]
    fn token(self) -> Wide {
        Wide(())
    }
    #[inline(always)]
    fn splat(_: Wide, v: f32) -> Self {
        f32x8::splat(v)
    }
    #[inline(always)]
    fn load(_: Wide, s: &[f32]) -> Self {
        let a: [f32; 8] = s[..8].try_into().expect("load takes 8 lanes");
        f32x8::new(a)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(self.as_array());
    }
    #[inline(always)]
    unsafe fn load_masked(_: Wide, p: *const f32, n: usize) -> Self {
        let mut a = [0.0f32; 8];
        // SAFETY: the caller guarantees `n ≤ 8` readable values at `p`; `a`
        // has room for 8.
        unsafe { std::ptr::copy_nonoverlapping(p, a.as_mut_ptr(), n.min(8)) };
        f32x8::new(a)
    }
    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, n: usize) {
        // SAFETY: the caller guarantees room for `n ≤ 8` values at `p`.
        unsafe { std::ptr::copy_nonoverlapping(self.as_array().as_ptr(), p, n.min(8)) };
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32x8::mul_add(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32x8::abs(self)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        let bit = u32x8::splat(0x8000_0000);
        f32x8::from_bits((self.to_bits() & !bit) | (sign.to_bits() & bit))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32x8::sqrt(self)
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
        let n = t.to_bits().cast_signed() - i32x8::splat(0x4B40_0000);
        let n1 = n >> 1u32;
        let n2 = n - n1;
        let bias = i32x8::splat(127);
        (
            f32x8::from_bits(((n1 + bias) << 23u32).cast_unsigned()),
            f32x8::from_bits(((n2 + bias) << 23u32).cast_unsigned()),
        )
    }
    #[inline(always)]
    fn mant_exp(x: Self) -> (Self, Self) {
        let b = x.to_bits();
        let e = ((b >> 23u32) & u32x8::splat(0xff)).cast_signed() - i32x8::splat(127);
        let m = f32x8::from_bits((b & u32x8::splat(0x007f_ffff)) | u32x8::splat(0x3f80_0000));
        (m, f32x8::from_i32x8(e))
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        f32x8::reduce_add(self)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        f32x8::max(self, o)
    }
}
