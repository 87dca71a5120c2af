//! The GEMM on the shapes of a training step, for each config: forward
//! `h·W` (M = batch rows per shard, K = in, N = out), weight gradient
//! `hᵀ·δ` (M = in, K = rows, N = out) and input gradient `δ·Wᵀ` (M = rows,
//! K = out, N = in), with our microkernel path against matrixmultiply, B
//! given as a view (packed inside the call, as the step does for W and Wᵀ)
//! and packed ahead (as the step does for δ).
//!
//! The same in bf16 (operands rounded to bf16 as they are packed: VDPBF16PS
//! where the CPU has it).
//!
//! FLOPs per call: 2·M·K·N. Criterion's "elements/s" below are FLOP/s.

use backprop::kernels::gemm::{
    gemm, gemm_path, BOperand, GemmPath, GemmScratch, MatMut, MatRef, Mode, PackedB, Precision,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// (name, M, K, N, A transposed, B transposed): each config's forward
/// (`h·W`, M = shard rows), weight gradient (`hᵀ·δ` per 96-row tile, K =
/// shard rows) and input gradient (`δ·Wᵀ`) products, at the default shard
/// sizes (the whole batch up to 256 rows).
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("S fwd1 64x784x128", 64, 784, 128, false, false),
    ("S fwd2 64x128x10", 64, 128, 10, false, false),
    ("S wgrad1 96x64x128", 96, 64, 128, true, false),
    ("S igrad2 64x10x128", 64, 10, 128, false, true),
    ("M fwd2 128x512x512", 128, 512, 512, false, false),
    ("M wgrad2 96x128x512", 96, 128, 512, true, false),
    ("M igrad2 128x512x512", 128, 512, 512, false, true),
    ("L fwd1 256x784x1024", 256, 784, 1024, false, false),
    ("L fwd2 256x1024x1024", 256, 1024, 1024, false, false),
    ("L fwd3 256x1024x10", 256, 1024, 10, false, false),
    ("L wgrad2 96x256x1024", 96, 256, 1024, true, false),
    ("L wgrad3 96x256x10", 96, 256, 10, true, false),
    ("L igrad2 256x1024x1024", 256, 1024, 1024, false, true),
    ("L igrad3 256x10x1024", 256, 10, 1024, false, true),
    ("XL fwd2 256x4096x4096", 256, 4096, 4096, false, false),
    ("XL wgrad2 96x256x4096", 96, 256, 4096, true, false),
    ("XL igrad2 256x4096x4096", 256, 4096, 4096, false, true),
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.sample_size(20);
    for &(name, m, k, n, ta, tb) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.01).collect();
        let mut out = vec![0.0f32; m * n];
        let am = if ta { MatRef::new(&a, k, m).unwrap().t() } else { MatRef::new(&a, m, k).unwrap() };
        let bm = if tb { MatRef::new(&b, n, k).unwrap().t() } else { MatRef::new(&b, k, n).unwrap() };
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        // B as the step passes W and Wᵀ (a view, packed block by block inside
        // the call), on our path and through matrixmultiply.
        for path in [gemm_path(), GemmPath::MatrixMultiply] {
            let mut scratch = GemmScratch::new();
            g.bench_with_input(BenchmarkId::new(path.name(), name), &(), |bch, _| {
                bch.iter(|| {
                    let c = MatMut::new(&mut out, m, n).unwrap();
                    gemm(am, BOperand::strided(bm, path), c, &mut scratch).unwrap()
                })
            });
        }
        // B packed ahead, as the step passes δ to the weight-gradient tiles.
        let mut packed = PackedB::new();
        packed.pack(bm, gemm_path()).unwrap();
        let mut scratch = GemmScratch::new();
        g.bench_with_input(BenchmarkId::new(format!("{}-prepacked", gemm_path().name()), name), &(), |bch, _| {
            bch.iter(|| gemm(am, &packed, MatMut::new(&mut out, m, n).unwrap(), &mut scratch).unwrap())
        });
        // bf16 (operands rounded as they are packed), B as a view and packed
        // ahead.
        let bf16 = Mode::of(Precision::Bf16);
        let mut scratch = GemmScratch::new();
        g.bench_with_input(BenchmarkId::new(format!("{bf16}"), name), &(), |bch, _| {
            bch.iter(|| {
                gemm(am, BOperand::strided(bm, bf16), MatMut::new(&mut out, m, n).unwrap(), &mut scratch).unwrap()
            })
        });
        let mut packed16 = PackedB::new();
        packed16.pack(bm, bf16).unwrap();
        g.bench_with_input(BenchmarkId::new(format!("{bf16}-prepacked"), name), &(), |bch, _| {
            bch.iter(|| gemm(am, &packed16, MatMut::new(&mut out, m, n).unwrap(), &mut scratch).unwrap())
        });
        // Packing B once (what a step pays per layer for δ).
        g.throughput(Throughput::Elements((k * n) as u64));
        g.bench_with_input(BenchmarkId::new("pack_b", name), &(), |bch, _| {
            bch.iter(|| packed.pack(bm, gemm_path()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
