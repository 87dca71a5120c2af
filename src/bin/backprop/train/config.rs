//! The settings of a training run, resolved from the flags (defaults filled
//! in, paths made absolute), written into checkpoints as strings and read
//! back from them, so that a resumed run is the same run.

use super::{OptimizerArg, ScheduleArg, TrainArgs};
use crate::common;
use crate::Failure;
use backprop::optim::{Adam, AdamW, Optimizer, Schedule, ScheduleKind, Sgd};
use backprop::train::auto_shard_rows;
use backprop::{json, Activation, Head, Mlp, TrainConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where held-out scores come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    None,
    Test(PathBuf),
    Val(f64),
}

/// Everything that decides what a run computes (the thread count does not).
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    pub data: PathBuf,
    pub held: Held,
    pub targets: usize,
    pub classes: Option<usize>,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub head: Head,
    pub init: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub shard_rows: usize,
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

impl RunConfig {
    /// The run the flags describe, defaults filled in; `init` is the model
    /// from `--init`, whose architecture it takes.
    pub fn from_args(a: &TrainArgs, init: Option<&Mlp>) -> Result<RunConfig, Failure> {
        check_combinations(a)?;
        let sgd = a.optimizer == OptimizerArg::Sgd;
        let default_data = a.data.is_none();
        let data = absolute(&a.data.clone().unwrap_or_else(|| common::bundled("train")))?;
        let held = match (&a.test, a.val_split) {
            (Some(p), _) => Held::Test(absolute(p)?),
            (None, Some(f)) => Held::Val(f),
            (None, None) if default_data => Held::Test(absolute(&common::bundled("test"))?),
            (None, None) => Held::None,
        };
        if a.patience.is_some() && held == Held::None {
            return Err(Failure::usage("--patience needs held-out data: --test PATH or --val-split F"));
        }
        let (hidden, activation, head) = match init {
            Some(m) => (m.sizes()[1..m.sizes().len() - 1].to_vec(), m.activation(), m.head()),
            None => (
                a.hidden.clone().map_or(vec![128], |h| h.0),
                a.activation.map_or(Activation::default(), Into::into),
                a.head.map_or(Head::default(), Into::into),
            ),
        };
        let targets = a.targets.unwrap_or_else(|| init.map_or(1, |m| common::default_targets(head, m.outputs())));
        let out = absolute(&a.out)?;
        let checkpoint =
            absolute(&a.checkpoint.clone().unwrap_or_else(|| PathBuf::from(format!("{}.ckpt", out.display()))))?;
        let adam_defaults = Adam::default();
        Ok(RunConfig {
            data,
            held,
            targets,
            classes: a.classes,
            hidden,
            activation,
            head,
            init: a.init.as_deref().map(absolute).transpose()?,
            epochs: a.epochs,
            batch_size: a.batch_size,
            shard_rows: a.shard_rows.unwrap_or_else(|| auto_shard_rows(a.batch_size)).min(a.batch_size),
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
        })
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

    /// The trainer's settings for a run of `steps` optimizer steps.
    pub fn train_config(&self, threads: Option<usize>, steps: u64) -> TrainConfig {
        let kind = match self.lr_schedule {
            ScheduleArg::Constant => ScheduleKind::Constant,
            ScheduleArg::Step => ScheduleKind::Step { step_size: self.step_size, gamma: self.gamma },
            ScheduleArg::Cosine => ScheduleKind::Cosine { total_steps: steps },
        };
        TrainConfig {
            batch_size: self.batch_size,
            shard_rows: self.shard_rows,
            threads: threads.unwrap_or(0),
            lr: self.lr,
            schedule: Schedule { kind, warmup_steps: self.warmup_steps },
            clip_norm: self.clip_norm,
            ..TrainConfig::default()
        }
    }
}

/// Names of the settings in checkpoints: the flags without their dashes.
const KEYS: &[&str] = &[
    "data",
    "test",
    "val_split",
    "targets",
    "classes",
    "hidden",
    "activation",
    "head",
    "init",
    "epochs",
    "batch_size",
    "shard_rows",
    "seed",
    "no_shuffle",
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "beta1",
    "beta2",
    "eps",
    "lr_schedule",
    "warmup_steps",
    "step_size",
    "gamma",
    "clip_norm",
    "patience",
    "out",
    "log",
    "checkpoint",
    "checkpoint_every",
];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or(String::new(), |v| v.to_string())
}

fn path(p: &Option<PathBuf>) -> String {
    p.as_ref().map_or(String::new(), |p| p.display().to_string())
}

fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value().map_or(String::new(), |p| p.get_name().to_string())
}

impl RunConfig {
    /// The setting `key` as a string (every number so that it parses back
    /// exactly).
    fn value(&self, key: &str) -> String {
        let num = |v: f64| json::number(v);
        match key {
            "data" => self.data.display().to_string(),
            "test" => path(&match &self.held {
                Held::Test(p) => Some(p.clone()),
                _ => None,
            }),
            "val_split" => opt(&match self.held {
                Held::Val(f) => Some(num(f)),
                _ => None,
            }),
            "targets" => self.targets.to_string(),
            "classes" => opt(&self.classes),
            "hidden" => self.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","),
            "activation" => self.activation.to_string(),
            "head" => self.head.to_string(),
            "init" => path(&self.init),
            "epochs" => self.epochs.to_string(),
            "batch_size" => self.batch_size.to_string(),
            "shard_rows" => self.shard_rows.to_string(),
            "seed" => self.seed.to_string(),
            "no_shuffle" => self.no_shuffle.to_string(),
            "optimizer" => value_name(&self.optimizer),
            "lr" => num(self.lr),
            "momentum" => num(self.momentum),
            "nesterov" => self.nesterov.to_string(),
            "weight_decay" => num(self.weight_decay),
            "beta1" => num(self.beta1),
            "beta2" => num(self.beta2),
            "eps" => num(self.eps),
            "lr_schedule" => value_name(&self.lr_schedule),
            "warmup_steps" => self.warmup_steps.to_string(),
            "step_size" => self.step_size.to_string(),
            "gamma" => num(self.gamma),
            "clip_norm" => opt(&self.clip_norm.map(num)),
            "patience" => opt(&self.patience),
            "out" => self.out.display().to_string(),
            "log" => path(&self.log),
            "checkpoint" => self.checkpoint.display().to_string(),
            "checkpoint_every" => opt(&self.checkpoint_every),
            _ => unreachable!("unknown setting {key}"),
        }
    }

    /// Every setting, for a checkpoint.
    pub fn to_meta(&self) -> BTreeMap<String, String> {
        KEYS.iter().map(|k| (format!("run.{k}"), self.value(k))).collect()
    }

    /// The settings of a checkpoint.
    pub fn from_meta(meta: &BTreeMap<String, String>, file: &Path) -> Result<RunConfig, backprop::Error> {
        let bad = |k: &str| {
            backprop::Error::format(file, None, format!("checkpoint setting run.{k} is missing or malformed"))
        };
        let get = |k: &str| meta.get(&format!("run.{k}")).cloned().ok_or_else(|| bad(k));
        fn parse<T: std::str::FromStr>(s: String) -> Option<T> {
            s.parse().ok()
        }
        let num = |k: &str| get(k).and_then(|s| parse::<f64>(s).ok_or_else(|| bad(k)));
        let int = |k: &str| get(k).and_then(|s| parse::<u64>(s).ok_or_else(|| bad(k)));
        let maybe = |k: &str| get(k).map(|s| (!s.is_empty()).then_some(s));
        let enum_of = |k: &str| get(k).map(|s| s.to_string());
        let pb = |k: &str| maybe(k).map(|s| s.map(PathBuf::from));
        let held = match (pb("test")?, maybe("val_split")?) {
            (Some(p), _) => Held::Test(p),
            (None, Some(f)) => Held::Val(parse(f).ok_or_else(|| bad("val_split"))?),
            (None, None) => Held::None,
        };
        let optional = |k: &str| -> Result<Option<u64>, backprop::Error> {
            maybe(k)?.map(|s| parse(s).ok_or_else(|| bad(k))).transpose()
        };
        Ok(RunConfig {
            data: PathBuf::from(get("data")?),
            held,
            targets: int("targets")? as usize,
            classes: optional("classes")?.map(|c| c as usize),
            hidden: common::sizes(&get("hidden")?).map_err(|_| bad("hidden"))?.0,
            activation: Activation::from_name(&enum_of("activation")?).ok_or_else(|| bad("activation"))?,
            head: Head::from_name(&enum_of("head")?).ok_or_else(|| bad("head"))?,
            init: pb("init")?,
            epochs: int("epochs")? as usize,
            batch_size: int("batch_size")? as usize,
            shard_rows: int("shard_rows")? as usize,
            seed: int("seed")?,
            no_shuffle: parse(get("no_shuffle")?).ok_or_else(|| bad("no_shuffle"))?,
            optimizer: clap::ValueEnum::from_str(&get("optimizer")?, false).map_err(|_| bad("optimizer"))?,
            lr: num("lr")?,
            momentum: num("momentum")?,
            nesterov: parse(get("nesterov")?).ok_or_else(|| bad("nesterov"))?,
            weight_decay: num("weight_decay")?,
            beta1: num("beta1")?,
            beta2: num("beta2")?,
            eps: num("eps")?,
            lr_schedule: clap::ValueEnum::from_str(&get("lr_schedule")?, false).map_err(|_| bad("lr_schedule"))?,
            warmup_steps: int("warmup_steps")?,
            step_size: int("step_size")?,
            gamma: num("gamma")?,
            clip_norm: maybe("clip_norm")?.map(|s| parse(s).ok_or_else(|| bad("clip_norm"))).transpose()?,
            patience: optional("patience")?.map(|p| p as usize),
            out: PathBuf::from(get("out")?),
            log: pb("log")?,
            checkpoint: PathBuf::from(get("checkpoint")?),
            checkpoint_every: optional("checkpoint_every")?,
        })
    }

    /// The first flag given on the command line (per `matches`) whose value
    /// differs from this run's, as a usage error.
    pub fn refuse_changes(&self, given: &RunConfig, matches: &clap::ArgMatches) -> Result<(), Failure> {
        for key in KEYS {
            let explicit = matches.value_source(key) == Some(clap::parser::ValueSource::CommandLine);
            let (mine, theirs) = (self.value(key), given.value(key));
            if explicit && mine != theirs {
                let flag = key.replace('_', "-");
                return Err(Failure::usage(format!(
                    "--{flag} {theirs:?} would change the run being resumed (it has {mine:?}); a resumed run keeps its settings"
                )));
            }
        }
        Ok(())
    }
}
