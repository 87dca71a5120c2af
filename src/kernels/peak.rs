//! This machine's arithmetic peaks on one core, measured: the FP32 fused
//! multiply-add rate of the widest vector path it has, and the bf16 dot
//! product rate (VDPBF16PS, AVX512-BF16: each 32-bit lane adds two bf16
//! products to an f32) where it has that. Every GFLOP/s figure of a run is
//! best read as a fraction of these.
//!
//! Each loop keeps enough independent accumulator chains in registers to
//! cover the instruction's latency on every unit (16 for AVX-512, 12 for
//! AVX2), so that it runs at the issue rate; the best of several timed
//! blocks is the peak. An FMA counts 2 flops a lane; a VDPBF16PS 4 a 32-bit
//! lane (two products, two additions).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The measured peaks of one core, in GFLOP/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    /// FP32 FMA, on the widest path this CPU has.
    pub fp32_fma: f64,
    /// The vector width of that path: `avx512` (16 lanes), `avx2` (8) or
    /// `portable` (the `wide` crate's 8 lanes, whatever it compiles to).
    pub fp32_path: &'static str,
    /// bf16 dot products (VDPBF16PS), when the CPU has AVX512-BF16.
    pub bf16_dot: Option<f64>,
}

/// Iterations of one timed block (each runs every chain once).
const BLOCK: u64 = 1 << 16;

/// Measures both peaks on the calling thread, spending about `seconds` on
/// each (at least one block).
pub fn measure(seconds: f64) -> Peaks {
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let (fp32_fma, fp32_path) = fp32(budget);
    Peaks { fp32_fma, fp32_path, bf16_dot: bf16(budget) }
}

/// The best rate, in GFLOP/s, of blocks of `flops` each run by `block`
/// until `budget` has passed.
fn best_rate(budget: Duration, flops: f64, mut block: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    loop {
        let t = Instant::now();
        block();
        best = best.min(t.elapsed().as_secs_f64());
        if start.elapsed() >= budget {
            break;
        }
    }
    flops / best.max(1e-12) / 1e9
}

#[cfg(target_arch = "x86_64")]
fn fp32(budget: Duration) -> (f64, &'static str) {
    if let Some(t) = x86::Avx512F::detect() {
        return (best_rate(budget, x86::FMA512_FLOPS, || x86::fma512(t)), "avx512");
    }
    if let Some(t) = x86::Avx2Fma::detect() {
        return (best_rate(budget, x86::FMA256_FLOPS, || x86::fma256(t)), "avx2");
    }
    (portable_fp32(budget), "portable")
}

#[cfg(not(target_arch = "x86_64"))]
fn fp32(budget: Duration) -> (f64, &'static str) {
    (portable_fp32(budget), "portable")
}

#[cfg(target_arch = "x86_64")]
fn bf16(budget: Duration) -> Option<f64> {
    let t = x86::Bf16::detect()?;
    Some(best_rate(budget, x86::DOT_FLOPS, || x86::dot_bf16(t)))
}

#[cfg(not(target_arch = "x86_64"))]
fn bf16(_: Duration) -> Option<f64> {
    None
}

/// The `wide` crate's f32x8 multiply-add, 12 chains.
fn portable_fp32(budget: Duration) -> f64 {
    use wide::f32x8;
    let flops = (BLOCK * 12 * 8 * 2) as f64;
    best_rate(budget, flops, || {
        let (a, b) = (f32x8::splat(black_box(0.999_99)), f32x8::splat(black_box(1e-6)));
        let mut acc = [f32x8::splat(1.0); 12];
        for _ in 0..BLOCK {
            for c in &mut acc {
                *c = c.mul_add(a, b);
            }
        }
        black_box(acc);
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::BLOCK;
    use core::arch::x86_64::*;
    use std::hint::black_box;

    /// Proof that this CPU runs AVX-512F.
    #[derive(Clone, Copy)]
    pub(super) struct Avx512F(());
    impl Avx512F {
        pub(super) fn detect() -> Option<Self> {
            is_x86_feature_detected!("avx512f").then_some(Avx512F(()))
        }
    }

    /// Proof that this CPU runs AVX2 and FMA.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2Fma(());
    impl Avx2Fma {
        pub(super) fn detect() -> Option<Self> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2Fma(()))
        }
    }

    /// Proof that this CPU runs AVX-512F and AVX512-BF16.
    #[derive(Clone, Copy)]
    pub(super) struct Bf16(());
    impl Bf16 {
        pub(super) fn detect() -> Option<Self> {
            let yes = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16");
            yes.then_some(Bf16(()))
        }
    }

    /// Flops of one block of [`fma512`]: 16 chains of 16 lanes, 2 each.
    pub(super) const FMA512_FLOPS: f64 = (BLOCK * 16 * 16 * 2) as f64;
    /// Flops of one block of [`fma256`]: 12 chains of 8 lanes, 2 each.
    pub(super) const FMA256_FLOPS: f64 = (BLOCK * 12 * 8 * 2) as f64;
    /// Flops of one block of [`dot_bf16`]: 16 chains of 16 lanes, 4 each.
    pub(super) const DOT_FLOPS: f64 = (BLOCK * 16 * 16 * 4) as f64;

    pub(super) fn fma512(_: Avx512F) {
        // SAFETY: the token proves AVX-512F.
        unsafe { fma512_body() }
    }

    #[target_feature(enable = "avx512f")]
    fn fma512_body() {
        let (a, b) = (_mm512_set1_ps(black_box(0.999_99)), _mm512_set1_ps(black_box(1e-6)));
        let mut acc = [_mm512_set1_ps(1.0); 16];
        for _ in 0..BLOCK {
            for c in &mut acc {
                *c = _mm512_fmadd_ps(*c, a, b);
            }
        }
        black_box(acc);
    }

    pub(super) fn fma256(_: Avx2Fma) {
        // SAFETY: the token proves AVX2 and FMA.
        unsafe { fma256_body() }
    }

    #[target_feature(enable = "avx2,fma")]
    fn fma256_body() {
        let (a, b) = (_mm256_set1_ps(black_box(0.999_99)), _mm256_set1_ps(black_box(1e-6)));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..BLOCK {
            for c in &mut acc {
                *c = _mm256_fmadd_ps(*c, a, b);
            }
        }
        black_box(acc);
    }

    pub(super) fn dot_bf16(_: Bf16) {
        // SAFETY: the token proves AVX-512F and AVX512-BF16.
        unsafe { dot_bf16_body() }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    fn dot_bf16_body() {
        let one = _mm512_set1_ps(black_box(0.5));
        let (a, b) = (_mm512_cvtne2ps_pbh(one, one), _mm512_cvtne2ps_pbh(one, one));
        let mut acc = [_mm512_setzero_ps(); 16];
        for _ in 0..BLOCK {
            for c in &mut acc {
                *c = _mm512_dpbf16_ps(*c, a, b);
            }
        }
        black_box(acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both peaks are positive and finite, the bf16 one exactly when the
    /// CPU has AVX512-BF16 (no timing is asserted: that is for benchmarks).
    #[test]
    fn peaks_are_measured_on_the_paths_this_cpu_has() {
        let p = measure(0.01);
        assert!(p.fp32_fma.is_finite() && p.fp32_fma > 0.0, "{p:?}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(p.bf16_dot.is_some(), is_x86_feature_detected!("avx512bf16"), "{p:?}");
        assert!(p.bf16_dot.is_none_or(|v| v.is_finite() && v > 0.0), "{p:?}");
    }
}
