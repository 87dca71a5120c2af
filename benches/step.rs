//! A full training step (shards forward + head + backward, reduce, SGD
//! update) for the configs S, M, L and XL at 1 and 2 threads.
//!
//! FLOPs per step (DEVELOPERS.md): 2·B·Σ in·out forward + 2·B·Σ in·out weight
//! gradients + 2·B·Σ in·out over every layer but the first for the input
//! gradients. Criterion's "elements/s" below are FLOP/s; samples/s is that
//! divided by the step's FLOPs and multiplied by B.

use backprop::train::flops_per_step;
use backprop::{Head, Mlp, TrainConfig, Trainer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const CONFIGS: &[(&str, &[usize], usize)] = &[
    ("S", &[784, 128, 10], 64),
    ("M", &[784, 512, 512, 10], 128),
    ("L", &[784, 1024, 1024, 10], 256),
    ("XL", &[1024, 4096, 4096, 1024], 512),
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    for &(name, sizes, batch) in CONFIGS {
        g.sample_size(if name == "XL" { 10 } else { 30 });
        g.throughput(Throughput::Elements(flops_per_step(sizes, batch) as u64));
        let (i, o) = (sizes[0], sizes[sizes.len() - 1]);
        let x: Vec<f32> = (0..batch * i).map(|k| ((k * 7919) % 1000) as f32 / 1000.0).collect();
        let mut t = vec![0.0f32; batch * o];
        for r in 0..batch {
            t[r * o + r % o] = 1.0;
        }
        for threads in [1, 2] {
            let mlp = Mlp::builder()
                .input(i)
                .hidden_layers(&sizes[1..sizes.len() - 1])
                .head(Head::Softmax, o)
                .build()
                .unwrap();
            let config = TrainConfig { batch_size: batch, threads, lr: 0.01, ..TrainConfig::default() };
            let mut tr = Trainer::new(mlp, config).unwrap();
            tr.step(&x, &t, batch).unwrap();
            g.bench_function(BenchmarkId::new(name, format!("{threads} threads")), |b| {
                b.iter(|| tr.step(&x, &t, batch).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
