//! `backprop bench`: training-step throughput on synthetic data in memory
//! (sigmoid hidden layers and a softmax head unless told otherwise, SGD),
//! after a warm-up; with `--inference`, forward-only throughput through a
//! `Predictor`.

use crate::common::{self, Sizes};
use crate::Failure;
use backprop::kernels::gemm::Mode;
use backprop::rng::Rng;
use backprop::train::flops_per_step;
use backprop::{simd_path, Activation, Head, Mlp, Precision, Predictor, TrainConfig, Trainer};
use serde_json::{json, Value};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Layer sizes: inputs, hidden widths, outputs
    #[arg(long, value_name = "N,N,...", default_value = "784,1024,1024,10", value_parser = common::sizes)]
    layers: Sizes,
    /// Rows per step
    #[arg(long, value_name = "B", default_value_t = 256, value_parser = common::batch_size)]
    batch_size: usize,
    /// Thread counts to measure, comma-separated [default: all cores]
    #[arg(long, value_name = "T,T,...", value_parser = common::thread_list)]
    threads: Option<Sizes>,
    /// Seconds of timed steps per thread count (after the warm-up)
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = seconds)]
    seconds: f64,
    /// Rows per shard [default: chosen from the batch size and the hidden widths]
    #[arg(long, value_name = "R", value_parser = common::batch_size)]
    shard_rows: Option<usize>,
    /// Print a JSON array, one object per thread count
    #[arg(long)]
    json: bool,
    /// Hidden activation
    #[arg(long, value_enum, default_value = "sigmoid")]
    activation: Activation,
    /// Output head (softmax: one-hot targets; logistic: 0/1 targets; linear: real targets)
    #[arg(long, value_enum, default_value = "softmax")]
    head: Head,
    /// Time the forward pass alone (a `Predictor`, as `predict`, `eval` and
    /// the C ABI run it); GFLOP/s count 2·B·Σ in·out
    #[arg(long)]
    inference: bool,
    /// Measure this core's arithmetic peaks instead, GFLOP/s: FP32 FMA on the widest vector path, and bf16
    /// dot products (VDPBF16PS) where the CPU has AVX512-BF16; --seconds each
    #[arg(long, conflicts_with_all = ["inference", "threads", "shard_rows", "precision"])]
    peak: bool,
    /// Precision of the products' operands (see `train --precision`)
    #[arg(long, value_enum, default_value = "fp32")]
    precision: Precision,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

/// One thread count's result.
struct Run {
    threads: usize,
    shard_rows: usize,
    steps: usize,
    median: f64,
    best: f64,
}

/// Runs `step` after a warm-up for at least `seconds` (and 5 steps) and
/// returns `(steps, median, best)` seconds a step.
fn time(seconds: f64, mut step: impl FnMut() -> backprop::Result<()>) -> backprop::Result<(usize, f64, f64)> {
    // Warm-up: buffers sized, caches and the pool's threads awake.
    let warm = Instant::now();
    for i in 0.. {
        step()?;
        if i >= 2 && warm.elapsed().as_secs_f64() > 0.2 * seconds.min(2.0) {
            break;
        }
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed().as_secs_f64() < seconds {
        let t0 = Instant::now();
        step()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times.len(), times[times.len() / 2], times[0]))
}

/// Times training steps (or, with `--inference`, forward passes) on
/// `threads` threads.
fn measure(a: &BenchArgs, threads: usize) -> backprop::Result<Run> {
    let l = &a.layers.0;
    let (b, (inputs, outputs)) = (a.batch_size, (l[0], l[l.len() - 1]));
    let mlp = Mlp::builder().input(inputs).hidden_layers(&l[1..l.len() - 1]).activation(a.activation);
    let mlp = mlp.head(a.head, outputs).seed(0).build()?;
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..b * inputs).map(|_| rng.next_f32()).collect();
    if a.inference {
        let mut p = Predictor::with_precision(&mlp, threads, a.precision)?;
        let mut y = vec![0.0; b * outputs];
        let (steps, median, best) = time(a.seconds, || p.predict(&x, b, &mut y))?;
        let shard_rows = b.div_ceil(p.threads()).min(b);
        return Ok(Run { threads: p.threads(), shard_rows, steps, median, best });
    }
    let config = TrainConfig {
        batch_size: b,
        shard_rows: a.shard_rows.unwrap_or(0),
        threads,
        lr: 0.01,
        min_parallel_flops: crate::train::min_parallel_flops(),
        precision: a.precision,
        ..TrainConfig::default()
    };
    let mut tr = Trainer::new(mlp, config)?;
    let mut t = vec![0.0; b * outputs];
    for r in 0..b {
        match a.head {
            Head::Softmax => t[r * outputs + rng.below(outputs as u64) as usize] = 1.0,
            Head::Logistic => t[r * outputs..][..outputs].iter_mut().for_each(|v| *v = rng.below(2) as f32),
            Head::Linear => t[r * outputs..][..outputs].iter_mut().for_each(|v| *v = rng.uniform(-1.0, 1.0)),
            Head::Poisson => t[r * outputs..][..outputs].iter_mut().for_each(|v| *v = rng.below(5) as f32),
        }
    }
    let (steps, median, best) = tr.within(|tr| time(a.seconds, || tr.step(&x, &t, b).map(drop)))?;
    Ok(Run { threads: tr.threads(), shard_rows: tr.shard_rows(), steps, median, best })
}

/// The process's peak resident memory in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `bench --peak`: the peaks of the core this runs on.
fn peaks(a: &BenchArgs) -> Result<(), Failure> {
    let p = backprop::kernels::peak::measure(a.seconds);
    if a.json {
        let o = json!({"fp32_fma_gflops": p.fp32_fma, "fp32_path": p.fp32_path, "bf16_dot_gflops": p.bf16_dot});
        return common::say(o);
    }
    common::say(format!("fp32 FMA peak: {:.1} GFLOP/s a core ({})", p.fp32_fma, p.fp32_path))?;
    common::say(match p.bf16_dot {
        Some(v) => format!("bf16 dot peak: {v:.1} GFLOP/s a core (VDPBF16PS, {:.2}× fp32)", v / p.fp32_fma),
        None => "bf16 dot peak: none (this CPU has no AVX512-BF16)".to_string(),
    })
}

pub fn run(a: BenchArgs) -> Result<(), Failure> {
    if a.peak {
        return peaks(&a);
    }
    if a.layers.0.len() < 2 {
        return Err(Failure::usage("--layers needs at least an input size and an output size"));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.clone().map_or(vec![cores], |t| t.0);
    let flops = if a.inference {
        2.0 * a.batch_size as f64 * a.layers.0.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
    } else {
        flops_per_step(&a.layers.0, a.batch_size)
    };
    let sizes = a.layers.0.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut objects = Vec::new();
    for &t in &threads {
        let r = measure(&a, t)?;
        let (rate, gflops) = (a.batch_size as f64 / r.median, flops / r.median / 1e9);
        let rss = peak_rss_mib();
        if a.json {
            objects.push(json!({
                "layers": a.layers.0,
                "batch_size": a.batch_size,
                "threads": r.threads,
                "samples_per_sec": rate,
                "gflops": gflops,
                "step_ms_median": r.median * 1e3,
                "step_ms_best": r.best * 1e3,
                "steps": r.steps,
                "shard_rows": r.shard_rows,
                "simd_path": simd_path().name(),
                "gemm_path": Mode::of(a.precision).path.name(),
                "precision": a.precision.name(),
                "gemm": Mode::of(a.precision).to_string(),
                "peak_rss_mib": rss,
            }));
        } else {
            let peak = rss.map_or(String::new(), |m| format!(", peak memory {m:.0} MiB"));
            common::say(format!(
                "{} batch {} threads {}: {:.0} samples/s, {:.1} GFLOP/s (median of {} steps, {:.3} ms/step; best {:.3} ms) simd {} gemm {} shard_rows {}{peak}",
                sizes.join("-"), a.batch_size, r.threads, rate, gflops, r.steps, r.median * 1e3, r.best * 1e3,
                simd_path(), Mode::of(a.precision), r.shard_rows
            ))?;
        }
    }
    if a.json {
        common::say(Value::Array(objects))?;
    }
    Ok(())
}
