//! One module per instruction set: its vector type, the tables of vector
//! kernels compiled for it, its GEMM microkernel and (AVX-512) its register
//! transpose, all behind a token.
//!
//! A token is a zero-sized proof that this CPU runs the instruction set: the
//! only safe way to make one is its `detect`, which asks the CPU. A vector
//! value can only be made from a token ([`Lane::splat`], [`Lane::load`]),
//! and the tables and microkernels are handed out only for a token, so safe
//! code can never execute an instruction the CPU lacks (memchr's `arch/`
//! makes the same promise).

pub(crate) mod portable;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use std::ops::{Add, Div, Mul, Neg, Sub};

/// A proof that the CPU runs an instruction set.
///
/// # Safety
/// Implementors are zero-sized types whose values exist only where the CPU
/// runs their instruction set: made by a `detect` that checks the CPU, or by
/// [`Token::new_unchecked`] where that is already known.
pub(crate) unsafe trait Token: Copy {
    /// The token without the check.
    ///
    /// # Safety
    /// The CPU must run the token's instruction set: call it only inside
    /// code that is reachable only through a token (a `#[target_feature]`
    /// function in a table that `table(token)` hands out).
    unsafe fn new_unchecked() -> Self;
}

/// One SIMD register of f32 lanes, with the operations the vector math and
/// the kernels need. Values are made from a [`Token`] (or from other
/// values), so holding one proves the CPU runs its instructions, and every
/// method may use them.
pub(crate) trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self>
{
    /// The proof the constructors need.
    type Token: Token;
    /// Number of f32 lanes (at most 16).
    const N: usize;
    /// The token this value proves.
    fn token(self) -> Self::Token;
    /// All lanes `v`.
    fn splat(t: Self::Token, v: f32) -> Self;
    /// The first `N` values of `s`; panics when `s` is shorter.
    fn load(t: Self::Token, s: &[f32]) -> Self;
    /// Stores into the first `N` values of `s`; panics when it is shorter.
    fn store(self, s: &mut [f32]);
    /// Loads lanes `0..n` from `p`, the others zero.
    ///
    /// # Safety
    /// `n ≤ N` and `p` is valid for reading `n` values; lanes from `n` on
    /// are not accessed.
    unsafe fn load_masked(t: Self::Token, p: *const f32, n: usize) -> Self;
    /// Stores lanes `0..n` to `p`.
    ///
    /// # Safety
    /// `n ≤ N` and `p` is valid for writing `n` values; lanes from `n` on
    /// are not accessed.
    unsafe fn store_masked(self, p: *mut f32, n: usize);
    /// `self * a + b`, fused where the instruction set has FMA.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// `|self|` with the sign bit of `sign` (so `-0.0` keeps its sign).
    fn copysign(self, sign: Self) -> Self;
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
    /// Sum of the lanes.
    fn reduce_add(self) -> f32;
    /// Lane-wise maximum (NaN-propagation unspecified; used on finite data).
    fn max(self, o: Self) -> Self;

    /// `s.len() < N` values, the other lanes zero.
    #[inline(always)]
    fn load_partial(t: Self::Token, s: &[f32]) -> Self {
        let n = s.len().min(Self::N);
        // SAFETY: `s` holds at least `n ≤ N` values.
        unsafe { Self::load_masked(t, s.as_ptr(), n) }
    }

    /// Stores the first `min(s.len(), N)` lanes into `s`.
    #[inline(always)]
    fn store_partial(self, s: &mut [f32]) {
        let n = s.len().min(Self::N);
        // SAFETY: `s` has room for `n ≤ N` values.
        unsafe { self.store_masked(s.as_mut_ptr(), n) }
    }

    /// Bit `l` set for each lane `l` that is not ±0 (NaN counts).
    #[inline(always)]
    fn nonzero_mask(self) -> u32 {
        let mut a = [0.0f32; 16];
        self.store(&mut a[..Self::N]);
        a[..Self::N].iter().enumerate().fold(0, |m, (l, &v)| m | (u32::from(v != 0.0) << l))
    }

    /// A hint that `s` is read soon: its cache lines are brought towards
    /// the core (into L1 on x86-64). Changes no value; where the
    /// instruction set has no such hint, nothing.
    #[inline(always)]
    fn prefetch(t: Self::Token, s: &[f32]) {
        let _ = (t, s);
    }

    /// Maximum of the lanes, NaN lanes ignored (`-inf` if all are NaN).
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        let mut a = [f32::NEG_INFINITY; 16];
        self.store(&mut a[..Self::N]);
        a.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
}

/// The shape of a register transpose (`x86_64::avx512::transpose16`,
/// `x86_64::avx2::transpose8`): `rows` source rows `ld` apart, written as
/// the square's lines of `cols` values, `ldd` apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Square {
    pub ld: usize,
    pub rows: usize,
    pub ldd: usize,
    pub cols: usize,
}
