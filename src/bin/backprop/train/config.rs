//! The settings of a training run, resolved from the flags (defaults filled
//! in, paths made absolute), written into checkpoints with serde and read
//! back from them, so that a resumed run is the same run.

use super::{OptimizerArg, ScheduleArg, TrainArgs};
use crate::common;
use crate::Failure;
use backprop::data::encoding::{Missing, Unknown};
use backprop::optim::{Adam, AdamW, Optimizer, Schedule, ScheduleKind, Sgd};
use backprop::{Activation, Head, Mlp, Precision, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where held-out scores come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    None,
    Test(PathBuf),
    Val(f64),
}

/// Everything that decides what a run computes (the thread count does not).
/// Each field is named after the `train` flag that sets it (`--val-split`
/// is `val_split`), which is how a resume tells which flags would change it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: PathBuf,
    pub test: Option<PathBuf>,
    pub val_split: Option<f64>,
    pub targets: usize,
    #[serde(default)]
    pub target: Vec<String>,
    #[serde(default)]
    pub delimiter: Option<char>,
    #[serde(default)]
    pub weight_column: Option<String>,
    /// Feature columns read as categories although they hold numbers.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// What fills a missing feature cell.
    #[serde(default)]
    pub missing: Missing,
    /// What a category unseen in training becomes (stored in the model).
    #[serde(default)]
    pub unknown_category: Unknown,
    pub classes: Option<usize>,
    #[serde(default)]
    pub standardize: bool,
    #[serde(default)]
    pub standardize_targets: bool,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub head: Head,
    pub init: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub shard_rows: usize,
    /// The products' precision (fp32 in a checkpoint from before the flag).
    #[serde(default)]
    pub precision: Precision,
    pub seed: u64,
    pub no_shuffle: bool,
    pub optimizer: OptimizerArg,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub lr_schedule: ScheduleArg,
    pub warmup_steps: u64,
    pub step_size: u64,
    pub gamma: f64,
    pub clip_norm: Option<f64>,
    pub patience: Option<usize>,
    pub out: PathBuf,
    pub log: Option<PathBuf>,
    pub checkpoint: PathBuf,
    pub checkpoint_every: Option<u64>,
    /// Seconds between the checkpoints at epochs' ends (0, as in a
    /// checkpoint from before the flag: every epoch).
    #[serde(default)]
    pub checkpoint_seconds: f64,
    #[serde(default)]
    pub save_every: Option<u64>,
}

fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(p).map_err(|e| backprop::Error::io(p, e).into())
}

/// Flags that make no sense together, as usage errors.
fn check_combinations(a: &TrainArgs) -> Result<(), Failure> {
    let sgd = a.optimizer == OptimizerArg::Sgd;
    for (given, flag) in [(a.momentum.is_some(), "--momentum"), (a.nesterov, "--nesterov")] {
        if given && !sgd {
            return Err(only_for(flag, "--optimizer sgd"));
        }
    }
    for (given, flag) in [(a.beta1.is_some(), "--beta1"), (a.beta2.is_some(), "--beta2"), (a.eps.is_some(), "--eps")] {
        if given && sgd {
            return Err(only_for(flag, "--optimizer adam and adamw"));
        }
    }
    if a.nesterov && a.momentum.unwrap_or(0.0) == 0.0 {
        return Err(Failure::usage("--nesterov needs a --momentum above 0"));
    }
    let step = a.lr_schedule == ScheduleArg::Step;
    if (a.step_size.is_some() || a.gamma.is_some()) && !step {
        return Err(only_for(if a.step_size.is_some() { "--step-size" } else { "--gamma" }, "--lr-schedule step"));
    }
    if step && a.step_size.is_none() {
        return Err(Failure::usage("--lr-schedule step needs --step-size N"));
    }
    Ok(())
}

/// The usage error for a flag that only means something for other settings.
fn only_for(flag: &str, what: &str) -> Failure {
    Failure::usage(format!("{flag} applies only to {what}"))
}

/// Whether the run standardises its inputs and its targets: what the
/// `--init` model's file carries (flags may only repeat it), else the
/// flags, inputs by default for CSV data (see [`STANDARDIZE_BY_DEFAULT`]).
fn scaling_flags(a: &TrainArgs, init: Option<&Mlp>, data: &Path, head: Head) -> Result<(bool, bool), Failure> {
    if a.standardize_targets && head != Head::Linear {
        return Err(only_for("--standardize-targets", "--head linear"));
    }
    if let Some(m) = init {
        let (inputs, targets) = (m.scaling().inputs.is_some(), m.scaling().targets.is_some());
        let asked = [(a.standardize && !inputs, "--standardize"), (a.no_standardize && inputs, "--no-standardize")];
        let asked = asked.into_iter().chain([(a.standardize_targets && !targets, "--standardize-targets")]);
        if let Some((_, flag)) = asked.into_iter().find(|(clash, _)| *clash) {
            let has = m.scaling().name().unwrap_or("no scaling");
            return Err(Failure::usage(format!(
                "{flag} would change the scaling of the --init model ({has}); a model keeps the scaling it was trained with"
            )));
        }
        return Ok((inputs, targets));
    }
    let csv = is_csv(data);
    let inputs = a.standardize || (!a.no_standardize && csv && STANDARDIZE_BY_DEFAULT);
    Ok((inputs, a.standardize_targets))
}

/// Whether `data` is (or, unreadable, is taken for) a CSV file.
fn is_csv(data: &Path) -> bool {
    backprop::data::detect(data).map(|f| f == backprop::data::Format::Csv).unwrap_or(true)
}

/// Whether a fresh CSV run standardises its inputs unless `--no-standardize`.
/// Measured with `--val-split 0.2`, seeds 0, 1, 2, held-out score without →
/// with: iris, default SGD (lr 1, batch 64), 50 epochs: 0.87 0.63 0.77 →
/// 0.97 0.93 0.93; iris, Adam lr 0.01, 200 epochs: 0.97 1.0 1.0 → 0.97 1.0
/// 0.97; diabetes (raw, linear head), Adam lr 0.01, R² −0.00 −0.01 −0.02 →
/// 0.49 0.58 0.36; tags (logistic) subset accuracy 0.58 0.65 0.48 → 0.75
/// 0.73 0.72; the bundled digits as a CSV of raw 0-255 pixels, label first
/// (Kaggle's layout), `--test` the 2,000 test digits, default SGD: 9.6 %
/// 21.9 % 10.1 % → 93.7 % 93.8 % 93.8 %, Adam: 90.0 % 90.9 % 89.9 % → 92.9 %
/// 93.5 % 92.7 %. Targets stay raw by default: on diabetes,
/// `--standardize-targets` on top gave R² 0.36 0.33 0.25.
const STANDARDIZE_BY_DEFAULT: bool = true;

/// The held-out file: `--test`, or the bundled test digits when the data
/// is the bundled digits and no `--val-split` is given.
fn test_path(a: &TrainArgs, default_data: bool) -> Result<Option<PathBuf>, Failure> {
    let test = match (&a.test, a.val_split) {
        (Some(p), _) => Some(absolute(p)?),
        (None, None) if default_data => Some(absolute(&common::bundled("test"))?),
        (None, _) => None,
    };
    if a.patience.is_some() && test.is_none() && a.val_split.is_none() {
        return Err(Failure::usage("--patience needs held-out data: --test PATH or --val-split F"));
    }
    Ok(test)
}

/// A usage error when `path` exists but is no regular file (a pipe, a
/// FIFO, a device): a run reads its data more than once (its kind, its
/// fingerprint for `--resume`, its rows), and a stream would be consumed
/// by the first read. Nothing is read from it here.
fn rereadable(flag: &str, path: &Path) -> Result<(), Failure> {
    if !backprop::model::is_special(path) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{flag} {}: not a regular file (a pipe or a device); train reads its data more than once \
         (and again to --resume), so save the stream to a file first",
        path.display()
    )))
}

/// The network's shape and functions.
struct Architecture {
    hidden: Vec<usize>,
    activation: Activation,
    head: Head,
}

/// The architecture of `--init`'s model, else the flags' (defaults filled
/// in).
fn architecture(a: &TrainArgs, init: Option<&Mlp>) -> Architecture {
    match init {
        Some(m) => Architecture {
            hidden: m.sizes()[1..m.sizes().len() - 1].to_vec(),
            activation: m.activation(),
            head: m.head(),
        },
        None => Architecture {
            hidden: a.hidden.clone().map_or(vec![128], |h| h.0),
            activation: a.activation.unwrap_or_default(),
            head: a.head.unwrap_or_default(),
        },
    }
}

impl RunConfig {
    /// The run the flags describe, defaults filled in; `init` is the model
    /// from `--init`, whose architecture it takes.
    pub fn from_args(a: &TrainArgs, init: Option<&Mlp>) -> Result<RunConfig, Failure> {
        check_combinations(a)?;
        let sgd = a.optimizer == OptimizerArg::Sgd;
        let default_data = a.data.is_none();
        let data = absolute(&a.data.clone().unwrap_or_else(|| common::bundled("train")))?;
        let test = test_path(a, default_data)?;
        rereadable("--data", &data)?;
        test.as_deref().map_or(Ok(()), |t| rereadable("--test", t))?;
        let Architecture { hidden, activation, head } = architecture(a, init);
        let targets = a.targets.unwrap_or_else(|| init.map_or(1, |m| common::default_targets(head, m.outputs())));
        let out = absolute(&a.out)?;
        let checkpoint =
            absolute(&a.checkpoint.clone().unwrap_or_else(|| PathBuf::from(format!("{}.ckpt", out.display()))))?;
        let (standardize, standardize_targets) = scaling_flags(a, init, &data, head)?;
        let adam_defaults = Adam::default();
        Ok(RunConfig {
            data,
            test,
            val_split: a.val_split,
            targets,
            target: a.csv.target.clone(),
            delimiter: a.csv.delimiter,
            weight_column: a.csv.weight_column.clone(),
            categorical: a.categorical.clone(),
            missing: a.missing,
            unknown_category: a.csv.unknown_category.unwrap_or_default(),
            classes: a.classes,
            standardize,
            standardize_targets,
            hidden,
            activation,
            head,
            init: a.init.as_deref().map(absolute).transpose()?,
            epochs: a.epochs,
            batch_size: a.batch_size,
            shard_rows: a.shard_rows.unwrap_or(0),
            precision: a.precision,
            seed: a.seed,
            no_shuffle: a.no_shuffle,
            optimizer: a.optimizer,
            lr: a.lr.unwrap_or(if sgd { TrainConfig::default().lr } else { 1e-3 }),
            momentum: a.momentum.unwrap_or(0.0),
            nesterov: a.nesterov,
            weight_decay: a.weight_decay.unwrap_or(if a.optimizer == OptimizerArg::Adamw {
                AdamW::default().weight_decay
            } else {
                0.0
            }),
            beta1: a.beta1.unwrap_or(adam_defaults.beta1),
            beta2: a.beta2.unwrap_or(adam_defaults.beta2),
            eps: a.eps.unwrap_or(adam_defaults.eps),
            lr_schedule: a.lr_schedule,
            warmup_steps: a.warmup_steps,
            step_size: a.step_size.unwrap_or(1),
            gamma: a.gamma.unwrap_or(0.1),
            clip_norm: a.clip_norm,
            patience: a.patience,
            out,
            log: a.log.as_deref().map(absolute).transpose()?,
            checkpoint,
            checkpoint_every: a.checkpoint_every,
            checkpoint_seconds: a.checkpoint_seconds,
            save_every: a.save_every,
        })
    }

    /// The settings that decide the model, as JSON for its file: every
    /// field but the files' paths and what changes only speed or when
    /// files are written (so that the same flags give the same bytes
    /// wherever the files lie).
    pub fn settings(&self) -> String {
        const LEFT_OUT: [&str; 10] = [
            "data",
            "test",
            "init",
            "out",
            "log",
            "checkpoint",
            "checkpoint_every",
            "checkpoint_seconds",
            "save_every",
            "shard_rows",
        ];
        let mut fields = self.fields();
        fields.retain(|k, _| !LEFT_OUT.contains(&k.as_str()));
        serde_json::to_string(&fields).expect("settings serialize")
    }

    /// Where held-out scores come from.
    pub fn held(&self) -> Held {
        match (&self.test, self.val_split) {
            (Some(p), _) => Held::Test(p.clone()),
            (None, Some(f)) => Held::Val(f),
            (None, None) => Held::None,
        }
    }

    /// The optimizer the settings call for.
    pub fn optimizer(&self) -> Box<dyn Optimizer> {
        match self.optimizer {
            OptimizerArg::Sgd => {
                Box::new(Sgd { momentum: self.momentum, nesterov: self.nesterov, weight_decay: self.weight_decay })
            }
            OptimizerArg::Adam => {
                Box::new(Adam { beta1: self.beta1, beta2: self.beta2, eps: self.eps, weight_decay: self.weight_decay })
            }
            OptimizerArg::Adamw => {
                Box::new(AdamW { beta1: self.beta1, beta2: self.beta2, eps: self.eps, weight_decay: self.weight_decay })
            }
        }
    }

    /// The trainer's settings for a run of `steps` optimizer steps of at
    /// most `batch` rows.
    pub fn train_config(&self, threads: Option<usize>, steps: u64, batch: usize) -> TrainConfig {
        let kind = match self.lr_schedule {
            ScheduleArg::Constant => ScheduleKind::Constant,
            ScheduleArg::Step => ScheduleKind::Step { step_size: self.step_size, gamma: self.gamma },
            ScheduleArg::Cosine => ScheduleKind::Cosine { total_steps: steps },
        };
        TrainConfig {
            batch_size: batch,
            shard_rows: self.shard_rows.min(batch),
            threads: threads.unwrap_or(0),
            lr: self.lr,
            schedule: Schedule { kind, warmup_steps: self.warmup_steps },
            clip_norm: self.clip_norm,
            min_parallel_flops: min_parallel_flops(),
            precision: self.precision,
        }
    }
}

/// `TrainConfig::min_parallel_flops`, or the hidden testing override
/// `BACKPROP_MIN_PARALLEL_FLOPS` (0 sends every step to the pool, so that
/// tests of small runs exercise the parallel path; results do not depend on
/// it). `train` and `bench` both read it.
pub fn min_parallel_flops() -> f64 {
    let v = std::env::var("BACKPROP_MIN_PARALLEL_FLOPS").ok().and_then(|v| v.trim().parse::<f64>().ok());
    v.filter(|v| *v >= 0.0).unwrap_or(TrainConfig::default().min_parallel_flops)
}

impl RunConfig {
    /// The settings as a JSON object, one entry per flag.
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => unreachable!("a struct of plain fields serializes to an object"),
        }
    }

    /// The first flag given on the command line (per `matches`) whose value
    /// differs from this run's, as a usage error.
    pub fn refuse_changes(&self, given: &RunConfig, matches: &clap::ArgMatches) -> Result<(), Failure> {
        let theirs = given.fields();
        let from_command_line = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        // `--epochs` may change (see `extend`), and `--shard-rows`, which
        // changes the speed, never the results.
        for (key, mine) in self.fields().into_iter().filter(|(k, _)| k != "epochs" && k != "shard_rows") {
            let explicit = from_command_line(&key) || (key == "standardize" && from_command_line("no_standardize"));
            let other = theirs.get(&key).unwrap_or(&serde_json::Value::Null);
            if explicit && *other != mine {
                let flag = key.replace('_', "-");
                return Err(Failure::usage(format!(
                    "--{flag} {other} would change the run being resumed (it has {mine}); a resumed run keeps its settings"
                )));
            }
        }
        Ok(())
    }

    /// `--epochs n` on a resume: the run made `n` epochs long, which gives
    /// the model of a run started with `n` epochs, unless the schedule
    /// depends on the total. Cosine does (it decays over every step of the
    /// run, so its first step already differs), and is refused; constant
    /// and step schedules, with or without warm-up, do not.
    /// `begun` is how many epochs the run has begun (the one under way
    /// counted once it has taken a step).
    pub fn extend(&mut self, n: usize, begun: usize) -> Result<(), Failure> {
        if n == self.epochs {
            return Ok(());
        }
        if self.lr_schedule == ScheduleArg::Cosine {
            return Err(Failure::usage(format!(
                "--epochs {n} would change the run being resumed: its cosine schedule decays over the steps of all {} epochs, so its learning rates depend on the total (constant and step schedules can be lengthened)",
                self.epochs
            )));
        }
        if n < begun {
            return Err(Failure::usage(format!(
                "--epochs {n} is fewer than the {begun} epochs the run being resumed has already begun"
            )));
        }
        self.epochs = n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn default_args() -> TrainArgs {
        match crate::Cli::try_parse_from(["backprop", "train"]).unwrap().command {
            crate::Command::Train(a) => *a,
            _ => unreachable!("parsed train"),
        }
    }

    /// Every setting is named after a `train` flag, so that a resume can
    /// ask clap whether it was given.
    #[test]
    fn every_setting_is_a_train_flag() {
        let cmd = crate::Cli::command();
        let train = cmd.find_subcommand("train").expect("train");
        let ids: Vec<&str> = train.get_arguments().map(|a| a.get_id().as_str()).collect();
        let cfg = RunConfig::from_args(&default_args(), None).unwrap();
        for key in cfg.fields().keys() {
            assert!(ids.contains(&key.as_str()), "setting {key} is not a flag");
        }
    }

    #[test]
    fn settings_round_trip_through_json() {
        let cfg = RunConfig::from_args(&default_args(), None).unwrap();
        let back: RunConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }
}
