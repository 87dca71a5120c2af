//! The command line's default run (`backprop train`), written against the
//! library: load the bundled digits, train 784-128-10 for ten epochs with the
//! CLI's seed-0 weights and row order, score the test set after each. It
//! ends where the CLI does: test loss 0.1978, accuracy 94.40 %.
//!
//! `cargo run --release --example mnist`

use backprop::data::{self, Batcher};
use backprop::metrics::Metrics;
use backprop::{Head, LabeledRows, Mlp, Predictor, TrainConfig, Trainer};
use std::path::Path;

fn main() -> backprop::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k");
    let train = data::load(&dir.join("train-images-idx3-ubyte.gz"), 1)?;
    let test = data::load(&dir.join("test-images-idx3-ubyte.gz"), 1)?;
    let (t_train, classes) = data::encode_targets(&train, Head::Softmax, None)?;
    let (t_test, _) = data::encode_targets(&test, Head::Softmax, Some(classes))?;

    let mlp = Mlp::builder().input(train.features).hidden(128).head(Head::Softmax, classes).build()?;
    let config = TrainConfig::default();
    let mut trainer = Trainer::new(mlp, config.clone())?;
    let mut predictor = Predictor::with_threads(trainer.mlp(), 0)?;
    let (mut y, mut row_loss) = (vec![0.0; test.rows * classes], vec![0.0; test.rows]);
    // Each epoch shuffles the one before's order with the run's generator.
    let mut order: Vec<usize> = (0..train.rows).collect();
    let mut rng = data::epoch_rng(0);
    let mut batcher = Batcher::new(config.batch_size, train.features, classes)?;
    for epoch in 1..=10 {
        rng.shuffle(&mut order);
        let mut loss = 0.0;
        for idx in order.chunks(config.batch_size) {
            let (x, t) = batcher.gather(&train.x, &t_train, idx)?;
            loss += trainer.step(x, t, idx.len())? as f64 * idx.len() as f64;
        }
        predictor.load(trainer.mlp())?;
        predictor.predict_with_loss(LabeledRows { x: &test.x, t: &t_test, rows: test.rows }, &mut y, &mut row_loss)?;
        let mut m = Metrics::new(Head::Softmax, classes);
        m.add_batch(&y, &t_test, &row_loss, None);
        let s = m.scores();
        let acc = 100.0 * s.accuracy.unwrap_or(0.0);
        println!(
            "epoch {epoch:2}  train loss {:.4}  test loss {:.4}  test accuracy {acc:.2}%",
            loss / train.rows as f64,
            s.loss
        );
    }
    Ok(())
}
