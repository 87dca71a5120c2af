//! Linking backprop as a training backend: a host program owns its data and
//! hands the engine one minibatch at a time, reads gradients or outputs when
//! it needs them, and saves the model for PyTorch to load.
//!
//! `cargo run --release --example backend`

use backprop::kernels::gemm::gemm_path;
use backprop::{simd_path, Activation, Head, Mlp, TrainConfig, Trainer};

fn main() -> backprop::Result<()> {
    // A regression problem: y = sin(x0) + x1², from 4 inputs (2 are noise).
    let mut rng = backprop::rng::Rng::new(7);
    let rows = 4096;
    let x: Vec<f32> = (0..rows * 4).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let t: Vec<f32> = x.chunks(4).map(|r| r[0].sin() + r[1] * r[1]).collect();

    let mlp = Mlp::builder()
        .input(4)
        .hidden(64)
        .hidden(64)
        .activation(Activation::Tanh)
        .head(Head::Linear, 1)
        .seed(1)
        .build()?;
    let config = TrainConfig { batch_size: 256, lr: 0.05, ..TrainConfig::default() };
    let mut trainer = Trainer::new(mlp, config)?;
    println!(
        "simd {}, gemm {}, {} threads, {} rows per shard",
        simd_path(),
        gemm_path(),
        trainer.threads(),
        trainer.shard_rows()
    );
    for epoch in 1..=30 {
        let mut sum = 0.0;
        for (xb, tb) in x.chunks(256 * 4).zip(t.chunks(256)) {
            sum += trainer.step(xb, tb, tb.len())? as f64 * tb.len() as f64;
        }
        if epoch % 10 == 0 {
            let g = trainer.gradient(0).expect("layer 0");
            let norm: f32 = g.weight.iter().map(|v| v * v).sum::<f32>().sqrt();
            println!("epoch {epoch}  mean loss {:.5}  |dW0| {norm:.5}", sum / rows as f64);
        }
    }
    let path = std::env::temp_dir().join("backend-example.safetensors");
    trainer.mlp().save(&path)?;
    println!("saved {}", path.display());
    Ok(())
}
