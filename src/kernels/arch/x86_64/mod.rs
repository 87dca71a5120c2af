//! x86-64: AVX2+FMA (8 lanes) and AVX-512 (16 lanes). Each module holds its
//! token, its vector type, its kernel table and its GEMM microkernel; the
//! arithmetic both vector types share is written once here.

pub(crate) mod avx2;
pub(crate) mod avx512;

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
