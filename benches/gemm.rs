//! The GEMM on the shapes of a training step, for each config: forward
//! `h·W` (M = batch rows per shard, K = in, N = out), weight gradient
//! `hᵀ·δ` (M = in, K = rows, N = out) and input gradient `δ·Wᵀ` (M = rows,
//! K = out, N = in), with our microkernel path against matrixmultiply.
//!
//! FLOPs per call: 2·M·K·N. Criterion's "elements/s" below are FLOP/s.

use backprop::kernels::gemm::{gemm, gemm_path, GemmPath, GemmScratch, MatMut, MatRef, PackedB};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// (name, M, K, N, A transposed, B transposed)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("S fwd 32x784x128", 32, 784, 128, false, false),
    ("S wgrad 784x32x128", 784, 32, 128, true, false),
    ("S out fwd 32x128x10", 32, 128, 10, false, false),
    ("M fwd 32x512x512", 32, 512, 512, false, false),
    ("L fwd 64x784x1024", 64, 784, 1024, false, false),
    ("L fwd 64x1024x1024", 64, 1024, 1024, false, false),
    ("L wgrad 1024x64x1024", 1024, 64, 1024, true, false),
    ("L igrad 64x1024x1024", 64, 1024, 1024, false, true),
    ("L out fwd 64x1024x10", 64, 1024, 10, false, false),
    ("L out igrad 64x10x1024", 64, 10, 1024, false, true),
    ("L full fwd 256x1024x1024", 256, 1024, 1024, false, false),
    ("XL fwd 128x4096x4096", 128, 4096, 4096, false, false),
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
        for path in [gemm_path(), GemmPath::MatrixMultiply] {
            let mut packed = PackedB::new();
            packed.pack(bm, path);
            let mut scratch = GemmScratch::new();
            g.bench_with_input(BenchmarkId::new(path.name(), name), &(), |bch, _| {
                bch.iter(|| gemm(am, &packed, MatMut::new(&mut out, m, n).unwrap(), false, &mut scratch).unwrap())
            });
        }
        // Packing B once (what a step pays per layer for W and Wᵀ).
        let mut packed = PackedB::new();
        g.throughput(Throughput::Elements((k * n) as u64));
        g.bench_with_input(BenchmarkId::new("pack_b", name), &(), |bch, _| bch.iter(|| packed.pack(bm, gemm_path())));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
