//! `backprop train`: load data, build (or load) a model, run epochs of
//! minibatch training, score held-out data after each, save atomically,
//! checkpoint, stop cleanly on Ctrl-C, and resume (or lengthen) a run from
//! its checkpoint.

mod config;
mod data;
mod feedback;
mod interrupt;
mod session;
mod start;
mod world;

use crate::common::{self, Sizes};
use crate::Failure;
use backprop::data::encoding::Missing;
use backprop::{Activation, Head, Precision};
use std::path::PathBuf;

pub use config::min_parallel_flops;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training data: CSV, or an MNIST *-images-idx3-ubyte[.gz] file with its labels beside it
    /// [default: the bundled data/mnist10k/train-images-idx3-ubyte.gz]
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Held-out data scored after every epoch [default: the bundled test set when the default data is used]
    #[arg(long, value_name = "PATH", conflicts_with = "val_split")]
    pub test: Option<PathBuf>,
    /// Hold out this seeded fraction of the training data instead
    #[arg(long, value_name = "F", value_parser = common::fraction)]
    pub val_split: Option<f64>,
    /// CSV: the last K columns are targets [default: 1, or with --init one per output unless softmax]
    #[arg(long, value_name = "K", value_parser = common::positive)]
    pub targets: Option<usize>,
    #[command(flatten)]
    pub csv: crate::labels::CsvArgs,
    /// CSV: read this feature column as categories (one-hot) although it holds numbers, as a zip code;
    /// by header name or position from 1; repeat for more. Columns holding text are categorical anyway
    #[arg(long, value_name = "NAME|INDEX")]
    pub categorical: Vec<String>,
    /// CSV: what fills a missing feature cell (empty, NA, NaN, null, ?): an error, or a value learned
    /// from the training rows (auto: the mean of a numeric column, the most frequent category of a text
    /// one), kept in the model for eval and predict
    #[arg(long, value_enum, value_name = "HOW", default_value_t = Missing::Error)]
    pub missing: Missing,
    /// Softmax: number of classes [default: the largest label + 1]
    #[arg(long, value_name = "C", value_parser = common::classes)]
    pub classes: Option<usize>,
    /// Hidden layer widths, comma-separated [default: 128]
    #[arg(long, value_name = "W,W,...", value_parser = common::sizes)]
    pub hidden: Option<Sizes>,
    /// Hidden activation [default: sigmoid]
    #[arg(long, value_enum)]
    pub activation: Option<Activation>,
    /// Output head [default: softmax]
    #[arg(long, value_enum)]
    pub head: Option<Head>,
    /// Passes over the training data
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = common::positive)]
    pub epochs: usize,
    /// Rows per minibatch
    #[arg(long, value_name = "B", default_value_t = backprop::TrainConfig::default().batch_size, value_parser = common::batch_size)]
    pub batch_size: usize,
    /// Update rule (PyTorch's SGD, Adam, AdamW)
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptimizerArg,
    /// Learning rate [default: 1.0 for sgd, 0.001 for adam and adamw]
    #[arg(long, value_name = "F", value_parser = common::non_negative, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// SGD momentum [default: 0]
    #[arg(long, value_name = "M", value_parser = common::unit_interval, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// SGD: Nesterov momentum (needs --momentum)
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay: L2 added to the gradient (sgd, adam) or decoupled (adamw) [default: 0, adamw 0.01]
    #[arg(long, value_name = "W", value_parser = common::non_negative, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Adam/AdamW β1 [default: 0.9]
    #[arg(long, value_name = "B", value_parser = common::unit_interval, allow_negative_numbers = true)]
    pub beta1: Option<f64>,
    /// Adam/AdamW β2 [default: 0.999]
    #[arg(long, value_name = "B", value_parser = common::unit_interval, allow_negative_numbers = true)]
    pub beta2: Option<f64>,
    /// Adam/AdamW ε [default: 1e-8]
    #[arg(long, value_name = "E", value_parser = common::non_negative, allow_negative_numbers = true)]
    pub eps: Option<f64>,
    /// Learning-rate schedule over the optimizer steps
    #[arg(long, value_enum, default_value = "constant")]
    pub lr_schedule: ScheduleArg,
    /// Steps of linear warm-up before the schedule
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub warmup_steps: u64,
    /// Step schedule: steps between decays
    #[arg(long, value_name = "N", value_parser = common::positive_u64)]
    pub step_size: Option<u64>,
    /// Step schedule: factor per decay [default: 0.1]
    #[arg(long, value_name = "G", value_parser = common::positive_f64)]
    pub gamma: Option<f64>,
    /// Clip the global gradient norm to C
    #[arg(long, value_name = "C", value_parser = common::positive_f64)]
    pub clip_norm: Option<f64>,
    /// Stop when the held-out loss has not improved for N epochs, keeping the best model in --out
    #[arg(long, value_name = "N", value_parser = common::positive)]
    pub patience: Option<usize>,
    /// Seed of the initial weights, the row order and the validation split
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = common::threads)]
    pub threads: Option<usize>,
    /// Rows per shard [default: chosen from the batch size and the hidden widths]
    #[arg(long, value_name = "R", value_parser = common::batch_size)]
    pub shard_rows: Option<usize>,
    /// Precision of the products' operands: bf16 rounds both operands of every layer's three products to bf16 and
    /// sums in fp32 (weights, optimizer, activations and the model file stay fp32); VDPBF16PS where the CPU has
    /// AVX512-BF16, else emulated at fp32 speed
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
    /// Keep the file's row order (the last batch may be smaller) instead of shuffling every epoch
    #[arg(long)]
    pub no_shuffle: bool,
    /// Standardise each input column to mean 0 and deviation 1 with the training rows' statistics; kept in the model file and applied by eval, predict and the library [default: on for a fresh CSV run, off for IDX images and for --init, which keeps its file's scaling]
    #[arg(long, overrides_with = "no_standardize")]
    pub standardize: bool,
    /// Train on the inputs as they are (turns the CSV default --standardize off)
    #[arg(long, overrides_with = "standardize")]
    pub no_standardize: bool,
    /// Linear head: standardise the targets too; the model's outputs are un-scaled back to the targets' units
    #[arg(long)]
    pub standardize_targets: bool,
    /// Start from a saved model; its architecture comes from the file
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Where to save the model, after every epoch (atomically)
    #[arg(long, value_name = "FILE", default_value = "model.safetensors")]
    pub out: PathBuf,
    /// Append one JSON object per epoch to this file
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Where to write checkpoints [default: <out>.ckpt]
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Write a checkpoint every N optimizer steps as well
    #[arg(long, value_name = "N", value_parser = common::positive_u64)]
    pub checkpoint_every: Option<u64>,
    /// At an epoch's end, checkpoint (and save the model) when S seconds have passed since the last checkpoint; 0: every epoch. The last epoch always does
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = common::non_negative)]
    pub checkpoint_seconds: f64,
    /// Also save the model every N epochs
    #[arg(long, value_name = "N", value_parser = common::positive_u64)]
    pub save_every: Option<u64>,
    /// Continue the run saved in this checkpoint (its data and settings come from the file; --epochs N may lengthen it)
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Keep the checkpoint when the run ends well (it is removed otherwise), so that `--resume FILE --epochs N` can continue the run later
    #[arg(long)]
    pub keep_checkpoint: bool,
    /// Print nothing but errors
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerArg {
    Sgd,
    Adam,
    Adamw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
}

/// Runs `backprop train`; `matches` tells which flags were given. Started
/// by `mpirun` (in a build with the `mpi` feature), every rank of the MPI
/// world trains its part of each batch.
pub fn run(args: TrainArgs, matches: &clap::ArgMatches) -> Result<(), Failure> {
    #[cfg(feature = "mpi")]
    if backprop::dist::mpi::Mpi::launched() {
        let mpi = backprop::dist::mpi::Mpi::init()?;
        // A panic (a bug) on one rank ends every rank: unwinding would free
        // MPI's shared memory, which waits for the others, which wait for
        // this rank's part of the step.
        let (comm, report) = (mpi.world(), std::panic::take_hook());
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            comm.end_run(101)
        }));
        let world = world::World::mpi(&mpi);
        let done = run_in(&args, matches, &world).map_err(|f| world.end(f)).map_err(|f| world.said(f));
        // MPI is finalised as `mpi` drops, after the world's handles.
        drop(world);
        return done;
    }
    let world = world::World::single();
    run_in(&args, matches, &world).map_err(|f| world.end(f)).map_err(|f| world.said(f))
}

fn run_in(args: &TrainArgs, matches: &clap::ArgMatches, world: &world::World) -> Result<(), Failure> {
    match &args.resume {
        Some(path) => start::resume(args, path, matches, world),
        None => start::start(args, world),
    }
}
