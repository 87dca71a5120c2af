//! [`Lane`] for the x86 vector registers, with `std::arch` intrinsics.
//!
//! These methods are safe functions that execute AVX2 or AVX-512
//! instructions. They are `pub(crate)` and instantiated only inside the
//! `#[target_feature]` functions of `kernels::simd`, whose tables
//! `Kernels::for_path` hands out only after checking the CPU; inlined there,
//! every intrinsic runs with its feature enabled. That is the invariant each
//! `unsafe` block below relies on.
#![allow(clippy::undocumented_unsafe_blocks)]

use super::math::Lane;
use core::arch::x86_64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! lane_x86 {
    ($T:ident, $raw:ty, $n:literal, $set1:ident, $add:ident, $sub:ident, $mul:ident, $div:ident,
     $fmadd:ident, $xor:ident, $andnot:ident, $loadu:ident, $storeu:ident, $max:ident, $sqrt:ident) => {
        /// One vector register of f32 lanes.
        #[derive(Clone, Copy)]
        pub(crate) struct $T(pub $raw);

        impl Add for $T {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $add(self.0, o.0) })
            }
        }
        impl Sub for $T {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $sub(self.0, o.0) })
            }
        }
        impl Mul for $T {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $mul(self.0, o.0) })
            }
        }
        impl Div for $T {
            type Output = Self;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $div(self.0, o.0) })
            }
        }
        impl Neg for $T {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $xor(self.0, $set1(-0.0)) })
            }
        }

        impl $T {
            #[inline(always)]
            fn splat_(v: f32) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $set1(v) })
            }
            #[inline(always)]
            fn abs_(self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $andnot($set1(-0.0), self.0) })
            }
            #[inline(always)]
            fn sqrt_(self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $sqrt(self.0) })
            }
            #[inline(always)]
            fn fma_(self, a: Self, b: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $fmadd(self.0, a.0, b.0) })
            }
            #[inline(always)]
            fn load_(s: &[f32]) -> Self {
                assert!(s.len() >= $n);
                // SAFETY: s holds at least N values (checked above).
                $T(unsafe { $loadu(s.as_ptr()) })
            }
            #[inline(always)]
            fn store_(self, s: &mut [f32]) {
                assert!(s.len() >= $n);
                // SAFETY: s holds at least N values (checked above).
                unsafe { $storeu(s.as_mut_ptr(), self.0) }
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                // SAFETY: see the module documentation.
                $T(unsafe { $max(self.0, o.0) })
            }
            #[inline(always)]
            fn to_array(self) -> [f32; $n] {
                let mut a = [0.0; $n];
                self.store_(&mut a);
                a
            }
        }
    };
}

lane_x86!(
    Avx512,
    __m512,
    16,
    _mm512_set1_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_mul_ps,
    _mm512_div_ps,
    _mm512_fmadd_ps,
    _mm512_xor_ps,
    _mm512_andnot_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_max_ps,
    _mm512_sqrt_ps
);
lane_x86!(
    Avx2,
    __m256,
    8,
    _mm256_set1_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_mul_ps,
    _mm256_div_ps,
    _mm256_fmadd_ps,
    _mm256_xor_ps,
    _mm256_andnot_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_max_ps,
    _mm256_sqrt_ps
);

#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

impl Lane for Avx512 {
    const N: usize = 16;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self::splat_(v)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self.fma_(a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.abs_()
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        self.sqrt_()
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: see the module documentation.
        unsafe { Avx512(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0), f.0, t.0)) }
    }
    #[inline(always)]
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: see the module documentation.
        unsafe { Avx512(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(a.0, b.0), f.0, t.0)) }
    }
    #[inline(always)]
    fn pow2_split(t: Self) -> (Self, Self) {
        // SAFETY: see the module documentation.
        unsafe {
            let n = _mm512_sub_epi32(_mm512_castps_si512(t.0), _mm512_set1_epi32(0x4B40_0000));
            let n1 = _mm512_srai_epi32::<1>(n);
            let n2 = _mm512_sub_epi32(n, n1);
            let bias = _mm512_set1_epi32(127);
            (
                Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n1, bias)))),
                Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n2, bias)))),
            )
        }
    }
    #[inline(always)]
    fn mant_exp(x: Self) -> (Self, Self) {
        // SAFETY: see the module documentation.
        unsafe {
            let b = _mm512_castps_si512(x.0);
            let e = _mm512_sub_epi32(
                _mm512_and_si512(_mm512_srli_epi32::<23>(b), _mm512_set1_epi32(0xff)),
                _mm512_set1_epi32(127),
            );
            let m =
                _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x3f80_0000));
            (Avx512(_mm512_castsi512_ps(m)), Avx512(_mm512_cvtepi32_ps(e)))
        }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Self::load_(s)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        self.store_(s)
    }
    #[inline(always)]
    fn load_partial(s: &[f32]) -> Self {
        // SAFETY: the mask covers exactly s.len() < 16 lanes; masked-off
        // lanes are not read.
        unsafe { Avx512(_mm512_maskz_loadu_ps(mask16(s.len()), s.as_ptr())) }
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32]) {
        // SAFETY: as for load_partial, for writes.
        unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), mask16(s.len()), self.0) }
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        // SAFETY: see the module documentation.
        unsafe {
            let lo = _mm512_castps512_ps256(self.0);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
            Avx2(_mm256_add_ps(lo, hi)).reduce_add()
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self.to_array().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        self.max_(o)
    }
}

#[inline(always)]
fn mask8(n: usize) -> __m256i {
    // SAFETY: see the module documentation.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

impl Lane for Avx2 {
    const N: usize = 8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self::splat_(v)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        self.fma_(a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.abs_()
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        self.sqrt_()
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: see the module documentation.
        unsafe { Avx2(_mm256_blendv_ps(f.0, t.0, _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0))) }
    }
    #[inline(always)]
    fn select_gt(a: Self, b: Self, t: Self, f: Self) -> Self {
        // SAFETY: see the module documentation.
        unsafe { Avx2(_mm256_blendv_ps(f.0, t.0, _mm256_cmp_ps::<_CMP_GT_OQ>(a.0, b.0))) }
    }
    #[inline(always)]
    fn pow2_split(t: Self) -> (Self, Self) {
        // SAFETY: see the module documentation.
        unsafe {
            let n = _mm256_sub_epi32(_mm256_castps_si256(t.0), _mm256_set1_epi32(0x4B40_0000));
            let n1 = _mm256_srai_epi32::<1>(n);
            let n2 = _mm256_sub_epi32(n, n1);
            let bias = _mm256_set1_epi32(127);
            (
                Avx2(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)))),
                Avx2(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)))),
            )
        }
    }
    #[inline(always)]
    fn mant_exp(x: Self) -> (Self, Self) {
        // SAFETY: see the module documentation.
        unsafe {
            let b = _mm256_castps_si256(x.0);
            let e = _mm256_sub_epi32(
                _mm256_and_si256(_mm256_srli_epi32::<23>(b), _mm256_set1_epi32(0xff)),
                _mm256_set1_epi32(127),
            );
            let m =
                _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f80_0000));
            (Avx2(_mm256_castsi256_ps(m)), Avx2(_mm256_cvtepi32_ps(e)))
        }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Self::load_(s)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        self.store_(s)
    }
    #[inline(always)]
    fn load_partial(s: &[f32]) -> Self {
        // SAFETY: the mask covers exactly s.len() < 8 lanes; masked-off
        // lanes are not read.
        unsafe { Avx2(_mm256_maskload_ps(s.as_ptr(), mask8(s.len()))) }
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32]) {
        // SAFETY: as for load_partial, for writes.
        unsafe { _mm256_maskstore_ps(s.as_mut_ptr(), mask8(s.len()), self.0) }
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        // SAFETY: see the module documentation.
        unsafe {
            let q = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps::<1>(self.0));
            let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
            _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps::<1>(d, d)))
        }
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self.to_array().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        self.max_(o)
    }
}
