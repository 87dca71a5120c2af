//! Every vector kernel on every path this CPU runs, on a 256 × 1024 block
//! (a hidden layer of config L): elements per second.

use backprop::kernels::{AdamStep, HeadRows, Kernels, SgdStep, SimdPath};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const ROWS: usize = 256;
const COLS: usize = 1024;

/// The inputs every kernel reads: pre-activations `x`, activations `h`,
/// a bias row `b` and one-hot targets `t`.
struct Inputs {
    x: Vec<f32>,
    h: Vec<f32>,
    b: Vec<f32>,
    t: Vec<f32>,
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;
type RowK = fn(&Kernels, &mut [f32], &[f32]) -> backprop::Result<()>;

fn bench(c: &mut Criterion) {
    let n = ROWS * COLS;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 2000) as f32 / 100.0 - 10.0).collect();
    let h: Vec<f32> = x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    let mut t = vec![0.0f32; n];
    for r in 0..ROWS {
        t[r * COLS + r % COLS] = 1.0;
    }
    let inputs = Inputs { x, h, b: vec![0.1f32; COLS], t };
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Elements(n as u64));
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        rows(&mut g, &k, &inputs);
        heads(&mut g, &k, &inputs);
        updates(&mut g, &k, &inputs);
    }
    g.finish();
}

/// The row kernels: activations forward and backward, softmax, and the sums.
fn rows(g: &mut Group<'_>, k: &Kernels, i: &Inputs) {
    let p = k.path().name();
    let mut y = i.x.clone();
    let mut d = vec![0.0f32; i.x.len()];
    let forward: [(&str, RowK); 6] = [
        ("bias_identity", Kernels::bias_identity),
        ("bias_sigmoid", Kernels::bias_sigmoid),
        ("bias_tanh", Kernels::bias_tanh),
        ("bias_relu", Kernels::bias_relu),
        ("bias_exp", Kernels::bias_exp),
        ("softmax_rows", Kernels::softmax_rows),
    ];
    for (name, f) in forward {
        g.bench_function(BenchmarkId::new(name, p), |bch| {
            bch.iter(|| {
                y.copy_from_slice(&i.x);
                f(k, &mut y, &i.b).unwrap()
            })
        });
    }
    let backward: [(&str, RowK); 3] = [
        ("sigmoid_backward", Kernels::sigmoid_backward),
        ("tanh_backward", Kernels::tanh_backward),
        ("relu_backward", Kernels::relu_backward),
    ];
    for (name, f) in backward {
        g.bench_function(BenchmarkId::new(name, p), |bch| bch.iter(|| f(k, &mut d, &i.h).unwrap()));
    }
    let mut sums = vec![0.0f32; COLS];
    g.bench_function(BenchmarkId::new("col_sums", p), |bch| bch.iter(|| k.col_sums(&mut sums, &i.x).unwrap()));
    g.bench_function(BenchmarkId::new("sum_squares (f64)", p), |bch| bch.iter(|| k.sum_squares(&i.h)));
}

/// The fused heads: outputs, errors and deltas from the logits.
fn heads(g: &mut Group<'_>, k: &Kernels, i: &Inputs) {
    let p = k.path().name();
    let (mut y, mut d, mut loss) = (i.x.clone(), vec![0.0f32; i.x.len()], vec![0.0f32; ROWS]);
    type HeadK = fn(&Kernels, HeadRows<'_>) -> backprop::Result<()>;
    let heads: [(&str, HeadK); 4] = [
        ("softmax_loss", Kernels::softmax_loss),
        ("logistic_loss", Kernels::logistic_loss),
        ("linear_loss", Kernels::linear_loss),
        ("poisson_loss", Kernels::poisson_loss),
    ];
    for (name, f) in heads {
        g.bench_function(BenchmarkId::new(name, p), |bch| {
            bch.iter(|| {
                y.copy_from_slice(&i.x);
                let scale = 1.0 / ROWS as f32;
                f(k, HeadRows { s: &mut y, b: &i.b, t: &i.t, delta: &mut d, loss: &mut loss, scale, weights: None })
                    .unwrap()
            })
        });
    }
}

/// The fused optimizer passes (parameters, gradients, state).
fn updates(g: &mut Group<'_>, k: &Kernels, i: &Inputs) {
    let p = k.path().name();
    let n = i.x.len();
    let mut y = i.x.clone();
    let sgd = SgdStep { lr: 1e-3, momentum: 0.9, weight_decay: 1e-4, nesterov: true, first: false, grad_scale: 1.0 };
    let mut buf = vec![0.0f32; n];
    g.bench_function(BenchmarkId::new("sgd nesterov update", p), |bch| {
        bch.iter(|| k.sgd_update(&mut y, &i.h, &mut buf, sgd).unwrap())
    });
    let adam = AdamStep {
        lr_bc1: 1e-3,
        one_minus_beta1: 0.1,
        beta2: 0.999,
        one_minus_beta2: 0.001,
        bc2_sqrt: 0.5,
        eps: 1e-8,
        l2: 0.0,
        decay: 0.9999,
        grad_scale: 1.0,
    };
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    g.bench_function(BenchmarkId::new("adamw update", p), |bch| {
        bch.iter(|| k.adam_update(&mut y, &i.h, [&mut m, &mut v], adam).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
