//! `backprop train`: load data, build (or load) a model, run epochs of
//! minibatch SGD, score held-out data after each, save atomically.

use crate::common::{self, ActivationArg, HeadArg, Sizes};
use crate::Failure;
use backprop::data::{self, Batcher};
use backprop::metrics::{Metrics, Scores};
use backprop::rng::Rng;
use backprop::{Head, Mlp, TrainConfig, Trainer};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Seed offsets, so that initial weights, row order and the validation
/// split draw from different streams of the same seed.
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_4531;
const SPLIT_STREAM: u64 = 0x5641_4c49_4441_5445;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training data: CSV, or an MNIST *-images-idx3-ubyte[.gz] file with its labels beside it
    /// [default: the bundled data/mnist10k/train-images-idx3-ubyte.gz]
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Held-out data scored after every epoch [default: the bundled test set when the default data is used]
    #[arg(long, value_name = "PATH", conflicts_with = "val_split")]
    test: Option<PathBuf>,
    /// Hold out this seeded fraction of the training data instead
    #[arg(long, value_name = "F", value_parser = common::fraction)]
    val_split: Option<f64>,
    /// CSV: the last K columns are targets [default: 1 for softmax, else the model's outputs or 1]
    #[arg(long, value_name = "K", value_parser = common::positive)]
    targets: Option<usize>,
    /// Softmax: number of classes [default: the largest label + 1]
    #[arg(long, value_name = "C", value_parser = common::classes)]
    classes: Option<usize>,
    /// Hidden layer widths, comma-separated [default: 128]
    #[arg(long, value_name = "W,W,...", value_parser = common::sizes)]
    hidden: Option<Sizes>,
    /// Hidden activation [default: sigmoid]
    #[arg(long, value_enum)]
    activation: Option<ActivationArg>,
    /// Output head [default: softmax]
    #[arg(long, value_enum)]
    head: Option<HeadArg>,
    /// Passes over the training data
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = common::positive)]
    epochs: usize,
    /// Rows per minibatch
    #[arg(long, value_name = "B", default_value_t = TrainConfig::default().batch_size, value_parser = common::positive)]
    batch_size: usize,
    /// Update rule
    #[arg(long, value_enum, default_value = "sgd")]
    optimizer: OptimizerArg,
    /// Learning rate
    #[arg(long, value_name = "F", default_value_t = TrainConfig::default().lr, value_parser = common::learning_rate, allow_negative_numbers = true)]
    lr: f32,
    /// Seed of the initial weights, the row order and the validation split
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = common::positive)]
    threads: Option<usize>,
    /// Rows per shard [default: chosen from the batch size]
    #[arg(long, value_name = "R", value_parser = common::positive)]
    shard_rows: Option<usize>,
    /// Keep the file's row order (the last batch may be smaller) instead of shuffling every epoch
    #[arg(long)]
    no_shuffle: bool,
    /// Start from a saved model; its architecture comes from the file
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Where to save the model, after every epoch (atomically)
    #[arg(long, value_name = "FILE", default_value = "model.safetensors")]
    out: PathBuf,
    /// Append one JSON object per epoch to this file
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OptimizerArg {
    Sgd,
}

/// Inputs and encoded targets.
struct Split {
    x: Vec<f32>,
    t: Vec<f32>,
    rows: usize,
}

/// The model from `--init`, checked against the architecture flags.
fn init_model(a: &TrainArgs) -> Result<Option<Mlp>, Failure> {
    let Some(path) = &a.init else { return Ok(None) };
    let m = Mlp::load(path)?;
    let hidden = &m.sizes()[1..m.sizes().len() - 1];
    let clash = |flag: &str, given: String, file: String| {
        Failure::usage(format!("{flag} {given} conflicts with the model in {} ({file})", path.display()))
    };
    if let Some(h) = a.hidden.as_ref().filter(|h| h.0 != hidden) {
        let list = |v: &[usize]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        return Err(clash("--hidden", list(&h.0), format!("hidden {}", list(hidden))));
    }
    if let Some(act) = a.activation.map(backprop::Activation::from).filter(|&x| x != m.activation()) {
        return Err(clash("--activation", act.to_string(), m.activation().to_string()));
    }
    if let Some(head) = a.head.map(Head::from).filter(|&h| h != m.head()) {
        return Err(clash("--head", head.to_string(), m.head().to_string()));
    }
    Ok(Some(m))
}

/// Training data and optional held-out data (with its label for reports).
fn load_data(
    a: &TrainArgs,
    path: &Path,
    head: Head,
    init: Option<&Mlp>,
) -> Result<(Split, Option<Split>, usize, usize), Failure> {
    let k = a.targets.unwrap_or_else(|| init.map_or(1, |m| common::default_targets(head, m.outputs())));
    let ds = data::load(path, k)?;
    let classes = a.classes.or(init.filter(|_| head == Head::Softmax).map(|m| m.outputs()));
    let (t, outputs) = data::encode_targets(&ds, head, classes)?;
    let features = ds.features;
    let mut train = Split { x: ds.x, t, rows: ds.rows };
    let held = match (&a.test, a.val_split) {
        (Some(p), _) => Some(load_held_out(p, k, head, outputs, features)?),
        (None, Some(f)) => Some(split_off(&mut train, f, features, outputs, a.seed)?),
        (None, None) if a.data.is_none() => Some(load_held_out(&common::bundled("test"), k, head, outputs, features)?),
        (None, None) => None,
    };
    Ok((train, held, features, outputs))
}

fn load_held_out(path: &Path, k: usize, head: Head, outputs: usize, features: usize) -> Result<Split, Failure> {
    let ds = data::load(path, k)?;
    if ds.features != features {
        let msg = format!("{} features per row, but the training data has {features}", ds.features);
        return Err(backprop::Error::format(path, None, msg).into());
    }
    let classes = (head == Head::Softmax).then_some(outputs);
    let (t, o) = data::encode_targets(&ds, head, classes)?;
    if o != outputs {
        let msg = format!("{o} target columns, but the training data has {outputs}");
        return Err(backprop::Error::format(path, None, msg).into());
    }
    Ok(Split { x: ds.x, t, rows: ds.rows })
}

/// Moves a seeded `fraction` of the rows of `train` into a validation split;
/// the rows kept stay in file order.
fn split_off(train: &mut Split, fraction: f64, f: usize, o: usize, seed: u64) -> Result<Split, Failure> {
    let n = train.rows;
    if n < 2 {
        return Err(Failure::usage("--val-split needs at least two rows of training data"));
    }
    let n_val = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed ^ SPLIT_STREAM).shuffle(&mut order);
    let (keep, val) = order.split_at_mut(n - n_val);
    keep.sort_unstable();
    let take = |rows: &[usize]| Split {
        x: rows.iter().flat_map(|&r| &train.x[r * f..(r + 1) * f]).copied().collect(),
        t: rows.iter().flat_map(|&r| &train.t[r * o..(r + 1) * o]).copied().collect(),
        rows: rows.len(),
    };
    let (kept, held) = (take(keep), take(val));
    *train = kept;
    Ok(held)
}

/// Runs the epochs, reporting and saving after each.
pub fn run(a: TrainArgs) -> Result<(), Failure> {
    let OptimizerArg::Sgd = a.optimizer;
    let init = init_model(&a)?;
    let head = init.as_ref().map_or_else(|| a.head.map_or(Head::default(), Head::from), |m| m.head());
    let data_path = a.data.clone().unwrap_or_else(|| common::bundled("train"));
    let (train, held, features, outputs) = load_data(&a, &data_path, head, init.as_ref())?;
    let mlp = match init {
        Some(m) => {
            let init_path = a.init.as_deref().unwrap_or(Path::new(""));
            if m.inputs() != features || m.outputs() != outputs {
                let msg = format!(
                    "{features} features and {outputs} outputs, but the model {} has {} inputs and {} outputs",
                    init_path.display(),
                    m.inputs(),
                    m.outputs()
                );
                return Err(backprop::Error::format(&data_path, None, msg).into());
            }
            m
        }
        None => {
            let hidden = a.hidden.as_ref().map_or(vec![128], |h| h.0.clone());
            let act = a.activation.map_or(backprop::Activation::default(), Into::into);
            Mlp::builder()
                .input(features)
                .hidden_layers(&hidden)
                .activation(act)
                .head(head, outputs)
                .seed(a.seed)
                .build()?
        }
    };
    let config = TrainConfig {
        batch_size: a.batch_size,
        shard_rows: a.shard_rows.unwrap_or(0),
        threads: a.threads.unwrap_or(0),
        lr: a.lr,
    };
    let mut trainer = Trainer::new(mlp, config)?;
    let mut log = match &a.log {
        Some(p) => {
            Some(std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| backprop::Error::io(p, e))?)
        }
        None => None,
    };
    let mut order: Vec<usize> = (0..train.rows).collect();
    let mut rng = Rng::new(a.seed ^ SHUFFLE_STREAM);
    let mut batcher = Batcher::new(a.batch_size, features, outputs);
    let start = Instant::now();
    for epoch in 1..=a.epochs {
        if !a.no_shuffle {
            rng.shuffle(&mut order);
        }
        let bar = progress(&a, epoch, train.rows.div_ceil(a.batch_size));
        let t0 = Instant::now();
        let stats = run_epoch(&mut trainer, &train, &order, &mut batcher, &bar).map_err(|e| epoch_error(e, epoch))?;
        let secs = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let held_scores = held.as_ref().map(|h| common::score(trainer.mlp(), &h.x, &h.t, h.rows)).transpose()?;
        trainer.mlp().save(&a.out)?;
        let line = Report {
            epoch,
            epochs: a.epochs,
            train: stats,
            held: held_scores,
            rate: train.rows as f64 / secs,
            elapsed: start.elapsed().as_secs_f64(),
        };
        if !a.quiet {
            println!("{}", line.text(&a));
        }
        if let Some(f) = log.as_mut() {
            writeln!(f, "{}", line.json(&a)).map_err(|e| backprop::Error::io(a.log.clone().unwrap_or_default(), e))?;
        }
    }
    if !a.quiet {
        println!("saved {}", a.out.display());
    }
    Ok(())
}

fn epoch_error(e: backprop::Error, epoch: usize) -> Failure {
    Failure::from(backprop::Error::config(format!("epoch {epoch}"), e.to_string()))
}

/// One pass over the rows in `order`; returns the running training scores.
fn run_epoch(
    tr: &mut Trainer,
    d: &Split,
    order: &[usize],
    batcher: &mut Batcher,
    bar: &indicatif::ProgressBar,
) -> backprop::Result<Scores> {
    let o = d.t.len() / d.rows.max(1);
    let mut m = Metrics::new(tr.mlp().head(), o);
    for idx in order.chunks(tr.config().batch_size) {
        let (x, t) = batcher.gather(&d.x, &d.t, idx)?;
        tr.step(x, t, idx.len())?;
        for ((y, t), l) in tr.last_outputs().zip(t.chunks_exact(o)).zip(tr.last_losses()) {
            m.add_row(y, t, l);
        }
        bar.inc(1);
    }
    Ok(m.scores())
}

/// A progress bar on stderr when it is a terminal (and not --quiet).
fn progress(a: &TrainArgs, epoch: usize, batches: usize) -> indicatif::ProgressBar {
    if a.quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(batches as u64);
    let style = indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:40}] {pos}/{len} batches, {per_sec}")
        .map(|s| s.progress_chars("=> "));
    if let Ok(s) = style {
        bar.set_style(s);
    }
    bar.set_prefix(format!("{epoch}/{}", a.epochs));
    bar
}

/// What one epoch's line says.
struct Report {
    epoch: usize,
    epochs: usize,
    train: Scores,
    held: Option<Scores>,
    rate: f64,
    elapsed: f64,
}

impl Report {
    fn held_name(a: &TrainArgs) -> &'static str {
        if a.val_split.is_some() {
            "val "
        } else {
            "test "
        }
    }

    fn text(&self, a: &TrainArgs) -> String {
        let mut s = format!(
            "epoch {:>w$}/{}  {}",
            self.epoch,
            self.epochs,
            common::text_scores(&self.train, "train "),
            w = self.epochs.to_string().len()
        );
        if let Some(h) = &self.held {
            s += &format!("  {}", common::text_scores(h, Self::held_name(a)));
        }
        s + &format!("  {:.0} samples/s  {:.1}s", self.rate, self.elapsed)
    }

    fn json(&self, a: &TrainArgs) -> String {
        let mut f = vec![format!("\"epoch\":{}", self.epoch), common::json_scores(&self.train, "train_")];
        if let Some(h) = &self.held {
            let prefix = if a.val_split.is_some() { "val_" } else { "test_" };
            f.push(common::json_scores(h, prefix));
        }
        f.push(format!("\"samples_per_sec\":{}", common::json_num(self.rate)));
        f.push(format!("\"elapsed_sec\":{}", common::json_num(self.elapsed)));
        f.push(format!("\"lr\":{}", common::json_num(a.lr as f64)));
        format!("{{{}}}", f.join(","))
    }
}
