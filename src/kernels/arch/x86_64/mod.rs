//! x86-64: AVX2+FMA (8 lanes) and AVX-512 (16 lanes). Each module holds its
//! token, its vector type, its kernel table and its GEMM microkernel; the
//! arithmetic both vector types share is written once here.

pub(crate) mod avx2;
pub(crate) mod avx512;

use super::Square;

/// `Lane::prefetch` on x86-64: `prefetcht0` for each 64-byte line of `s`.
#[inline(always)]
fn prefetch_lines(s: &[f32]) {
    let p = s.as_ptr().cast::<i8>();
    for off in (0..std::mem::size_of_val(s)).step_by(64) {
        // SAFETY: SSE is part of x86-64. A prefetch only hints: it reads
        // nothing into the program and never faults; the address is inside
        // `s` anyway.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.add(off)) }
    }
}

/// Defines `$T($raw)`, a vector register of f32 lanes,
/// with the arithmetic operators. The field is private to the module that
/// invokes this, so a value can only come from that module's `Lane`
/// constructors, which take the token.
macro_rules! lane_type {
    ($T:ident, $raw:ty, $add:ident, $sub:ident, $mul:ident, $div:ident, $xor:ident, $set1:ident) => {
        /// One vector register of f32 lanes; holding one proves the CPU
        /// runs its instructions (only a token makes one).
        #[derive(Clone, Copy)]
        pub(crate) struct $T($raw);

        impl std::ops::Add for $T {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                // SAFETY: `self` exists, so its token did: the CPU runs the instruction.
                $T(unsafe { $add(self.0, o.0) })
            }
        }
        impl std::ops::Sub for $T {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                // SAFETY: `self` exists, so its token did: the CPU runs the instruction.
                $T(unsafe { $sub(self.0, o.0) })
            }
        }
        impl std::ops::Mul for $T {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                // SAFETY: `self` exists, so its token did: the CPU runs the instruction.
                $T(unsafe { $mul(self.0, o.0) })
            }
        }
        impl std::ops::Div for $T {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                // SAFETY: `self` exists, so its token did: the CPU runs the instruction.
                $T(unsafe { $div(self.0, o.0) })
            }
        }
        impl std::ops::Neg for $T {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                // SAFETY: `self` exists, so its token did: the CPU runs the instructions.
                $T(unsafe { $xor(self.0, $set1(-0.0)) })
            }
        }
    };
}
pub(crate) use lane_type;

/// The exponent-bit arithmetic of `exp` and `ln` for `$T`, written once
/// over the width's integer intrinsics: `$T::pow2_split_bits` and
/// `$T::mant_exp_bits`, which the `Lane` impl forwards to (see `Lane`).
macro_rules! exponent_bits {
    ($T:ident, $castps_si:ident, $castsi_ps:ident, $sub:ident, $add:ident, $srai:ident, $slli:ident, $srli:ident,
     $and:ident, $or:ident, $set1:ident, $cvt:ident) => {
        impl $T {
            /// `(2^(n>>1), 2^(n-(n>>1)))` for the integer n held in the low
            /// bits of `t = x + 1.5·2²³`.
            #[inline(always)]
            fn pow2_split_bits(t: Self) -> (Self, Self) {
                // SAFETY: `t` exists, so its token did: the CPU runs the width's integer instructions.
                unsafe {
                    let n = $sub($castps_si(t.0), $set1(0x4B40_0000));
                    let n1 = $srai::<1>(n);
                    let n2 = $sub(n, n1);
                    let bias = $set1(127);
                    ($T($castsi_ps($slli::<23>($add(n1, bias)))), $T($castsi_ps($slli::<23>($add(n2, bias)))))
                }
            }

            /// `(m, e)` with `x = m·2^e`, `m ∈ [1, 2)`, for positive normal x.
            #[inline(always)]
            fn mant_exp_bits(x: Self) -> (Self, Self) {
                // SAFETY: `x` exists, so its token did: the CPU runs the width's integer instructions.
                unsafe {
                    let b = $castps_si(x.0);
                    let e = $sub($and($srli::<23>(b), $set1(0xff)), $set1(127));
                    let m = $or($and(b, $set1(0x007f_ffff)), $set1(0x3f80_0000));
                    ($T($castsi_ps(m)), $T($cvt(e)))
                }
            }
        }
    };
}
pub(crate) use exponent_bits;

/// Whether a `size × size` register transpose (`avx512::transpose16`,
/// `avx2::transpose8`) of `sq` may run on a source of `src_len` and a
/// destination of `dst_len` values: the source holds `rows ≤ size` rows of
/// `size` values, and the destination `size` lines of `1 ≤ cols ≤ size`
/// values at a stride of at least `cols`.
fn square_fits(size: usize, src_len: usize, dst_len: usize, sq: Square) -> bool {
    let Square { ld, rows, ldd, cols } = sq;
    let src_ok = rows == 0 || ((rows - 1).checked_mul(ld)).is_some_and(|e| e + size <= src_len);
    let dst_ok = cols > 0 && ldd >= cols && (size - 1) * ldd + cols <= dst_len;
    rows <= size && cols <= size && src_ok && dst_ok
}

/// The entry points of one instruction set, from its token `$tok`, lane
/// type `$lane` and target features: its kernel table (`kernels`) and its
/// `MR × NR` GEMM microkernel (`TILE`, `microkernel`, `NR` two vectors),
/// each handed out only for a token.
macro_rules! entry_points {
    ($tok:ident, $lane:ident, $feat:literal, tile: $mr:literal x $nr:literal, $accs:literal) => {
        /// The vector kernels compiled for this instruction set.
        const TABLE: Table = table!($lane, $feat);

        /// The kernel table.
        pub(crate) fn kernels(_: $tok) -> &'static Table {
            &TABLE
        }

        /// The microkernel's tile `(MR, NR)`: two vectors of columns.
        pub(crate) const TILE: (usize, usize) = ($mr, $nr);
        const _: () = assert!($nr == 2 * <$lane as $crate::kernels::arch::Lane>::N);

        #[doc = concat!("The ", $mr, " × ", $nr, " tile (", $accs, " accumulators), see [`micro::tile`].")]
        ///
        /// # Safety
        /// As [`micro::KernelFn`]; the CPU runs the features.
        #[target_feature(enable = $feat)]
        unsafe fn tile(a: &[f32], b: &[f32], c: micro::CTile, acc: micro::Acc) {
            // SAFETY: this function's own contract is that the CPU runs the features.
            let t = unsafe { <$tok as $crate::kernels::arch::Token>::new_unchecked() };
            // SAFETY: the caller's guarantees about C are the tile's.
            unsafe { micro::tile::<$lane, $mr, 2, 2>(micro::Fma(t), a, b, c, acc) }
        }

        /// The GEMM microkernel.
        pub(crate) fn microkernel(_: $tok) -> Microkernel {
            // SAFETY: the token proves that this CPU runs the features.
            unsafe { Microkernel::new(tile, TILE.0, TILE.1) }
        }
    };
}
pub(crate) use entry_points;
