//! XOR with a 2-8-1 network and a logistic head: the smallest problem a
//! linear model cannot solve.
//!
//! `cargo run --release --example xor`

use backprop::{Head, Mlp, TrainConfig, Trainer};

fn main() -> backprop::Result<()> {
    let x = [0., 0., 0., 1., 1., 0., 1., 1.];
    let t = [0., 1., 1., 0.];
    let mlp = Mlp::builder().input(2).hidden(8).head(Head::Logistic, 1).seed(3).build()?;
    let mut trainer = Trainer::new(mlp, TrainConfig { batch_size: 4, threads: 1, lr: 2.0, ..TrainConfig::default() })?;
    for step in 0..=3000 {
        let loss = trainer.step(&x, &t, 4)?;
        if step % 500 == 0 {
            println!("step {step:4}  loss {loss:.5}");
        }
    }
    let mut y = [0.0; 4];
    trainer.mlp().predict(&x, 4, &mut y)?;
    for (row, y) in x.chunks(2).zip(y) {
        println!("{} xor {} -> {y:.3}", row[0], row[1]);
    }
    Ok(())
}
