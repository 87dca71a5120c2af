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
        unsafe fn tile(a: &[f32], b: &[f32], c: *mut f32, ldc: usize, m: usize, n: usize, acc: bool) {
            // SAFETY: this function's own contract is that the CPU runs the features.
            let t = unsafe { <$tok as $crate::kernels::arch::Token>::new_unchecked() };
            // SAFETY: the caller's guarantees about C are the tile's.
            unsafe { micro::tile::<$lane, $mr>(t, a, b, c, ldc, m, n, acc) }
        }

        /// The GEMM microkernel.
        pub(crate) fn microkernel(_: $tok) -> Microkernel {
            Microkernel::new(tile, TILE.0, TILE.1)
        }
    };
}
pub(crate) use entry_points;
