//! A training run: the epoch loop, held-out scoring, early stopping, model
//! saves and checkpoints.
//!
//! The loop's whole state (parameters, optimizer state, step and epoch
//! counters, the generator, the epoch's row order and the position in it, the
//! running scores, the early-stopping record, the log's length) goes into
//! every checkpoint, so a resumed run continues exactly where the saved one
//! stood and ends with the same model file, byte for byte.

use super::config::RunConfig;
use super::data::{RunData, Split};
use super::feedback::{progress, EpochAt, Report, Start, Wrote};
use super::interrupt::{Interrupt, Signal};
use super::world::World;
use super::TrainArgs;
use crate::common::{self, say};
use crate::labels::Names;
use crate::Failure;
use backprop::data::Encoding;
use backprop::metrics::Metrics;
use backprop::model::Scaling;
use backprop::rng::Rng;
use backprop::train::Checkpoint;
use backprop::{Mlp, Predictor, Trainer};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

mod summary;

/// Where the loop stands, and what it has seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The current epoch, from 1 (past the last when the run is over).
    pub epoch: usize,
    /// The next batch of the epoch.
    pub batch: usize,
    /// The row-order generator.
    pub rng: Rng,
    /// The epoch's running training scores.
    pub metrics: Metrics,
    /// The best held-out loss so far.
    pub best: Option<f64>,
    /// Epochs since it last improved.
    pub bad_epochs: usize,
    /// Bytes of the log written by this run.
    pub log_len: u64,
    /// Seconds of training so far, over every resume.
    pub elapsed: f64,
    /// Early stopping has ended the run.
    pub stopped: bool,
    /// The run's id, on every line of its log (empty in checkpoints
    /// written before ids were).
    #[serde(default)]
    pub run: String,
}

impl Progress {
    /// The epochs trained, with the one under way when it has begun.
    pub fn epochs_begun(&self) -> usize {
        if self.batch > 0 {
            self.epoch
        } else {
            self.epoch - 1
        }
    }
}

/// What a checkpoint holds besides its tensors, as one JSON metadata entry
/// (which the checkpoint's checksum covers with everything else).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    pub run: RunConfig,
    pub progress: Progress,
    /// Optimizer steps taken.
    pub steps: u64,
    /// The class and target names the model keeps.
    #[serde(default)]
    pub names: Names,
    /// The network's layer sizes.
    pub layers: Vec<usize>,
    /// What the network standardises.
    #[serde(default)]
    pub scaling: Scaling,
    /// How the network's inputs come from the data's columns.
    #[serde(default)]
    pub encoding: Option<Encoding>,
    /// `flag → size:crc` of each data file.
    pub fingerprints: BTreeMap<String, String>,
    /// `--keep-checkpoint`: the checkpoint stays when the run ends well.
    #[serde(default)]
    pub keep_checkpoint: bool,
}

/// The metadata key of [`Saved`] in a checkpoint.
pub const SAVED_KEY: &str = "run";

impl Saved {
    /// The run state of a checkpoint, or an error naming the file.
    pub fn from_checkpoint(ck: &Checkpoint, path: &Path) -> Result<Saved, backprop::Error> {
        let bad = |why: String| backprop::Error::format(path, None, format!("checkpoint run state: {why}"));
        let text = ck.meta.get(SAVED_KEY).ok_or_else(|| bad("missing".into()))?;
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))
    }
}

pub struct Session {
    pub cfg: RunConfig,
    /// Prints nothing: --quiet, or a rank other than 0.
    quiet: bool,
    /// Writes the model, checkpoints and log: a single process, or rank 0.
    root: bool,
    pub trainer: Trainer,
    train: Split,
    held: Option<Split>,
    outputs: usize,
    fingerprints: BTreeMap<String, String>,
    /// The epoch's row order.
    order: Vec<usize>,
    pub st: Progress,
    /// The log, opened for appending before the first step.
    log: Option<File>,
    /// Scores the held-out rows after each epoch (the trainer's weights
    /// loaded into it then).
    predictor: Option<Predictor>,
    /// The class and target names, saved with the model.
    names: Names,
    /// What the files hold: the epoch whose model `--out` has (from this
    /// run or the one it resumes), and whether there is a checkpoint.
    written: (Option<usize>, bool),
    /// One row's outputs and targets un-scaled, for the training scores of
    /// a model that standardises its targets.
    raw_row: (Vec<f32>, Vec<f32>),
    /// The checkpoint stays when the run ends well.
    keep_checkpoint: bool,
    /// This run continues one saved in a checkpoint.
    resumed: bool,
    /// Whether SIGINT or SIGTERM asked the run to stop (caught once the
    /// epochs start).
    interrupt: Interrupt,
    /// The step count of the last checkpoint this run wrote (its state
    /// stays until the next step).
    checkpointed: Option<u64>,
    /// When the last checkpoint was written (or the session began).
    last_checkpoint: Instant,
}

/// What a session starts from: the settings, the network, the data (and
/// its files' fingerprints), the row order and where the run stands;
/// `resumed` is the checkpoint's `--keep-checkpoint` when the run
/// continues one.
pub struct Launch {
    pub cfg: RunConfig,
    pub mlp: Mlp,
    pub data: RunData,
    pub fingerprints: BTreeMap<String, String>,
    pub order: Vec<usize>,
    pub progress: Progress,
    pub resumed: Option<bool>,
}

impl Session {
    /// A session ready to run: the trainer built, the log open.
    pub fn new(launch: Launch, a: &TrainArgs, world: &World) -> Result<Session, Failure> {
        let Launch { cfg, mlp, data, fingerprints, order, progress: st, resumed } = launch;
        let RunData { mut train, held, outputs, names, .. } = data;
        let scaling = mlp.scaling();
        if let Some(s) = &scaling.inputs {
            s.apply(&mut train.x);
        }
        if let Some(s) = &scaling.targets {
            s.apply(&mut train.t);
        }
        let steps = (cfg.epochs * train.rows.div_ceil(cfg.batch_size)) as u64;
        // A batch larger than the data is the whole data, as scikit-learn
        // clips it (the rows a step sees are the same either way).
        let batch = cfg.batch_size.min(train.rows);
        let tc = cfg.train_config(a.threads.or(world.threads_per_rank()), steps, batch);
        let mut trainer = Trainer::with_optimizer(mlp, tc, cfg.optimizer())?;
        if let Some(comm) = world.for_trainer() {
            trainer.distribute(comm)?;
        }
        let log = match &cfg.log {
            Some(p) if world.is_root() => Some(
                std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| backprop::Error::io(p, e))?,
            ),
            _ => None,
        };
        let predictor = match &held {
            Some(_) => Some(Predictor::with_precision(trainer.mlp(), trainer.threads(), cfg.precision)?),
            None => None,
        };
        let (quiet, root) = (a.quiet || !world.is_root(), world.is_root());
        let written = (Some(st.epoch - 1).filter(|&e| e > 0 && resumed.is_some()), resumed.is_some());
        Ok(Session {
            cfg,
            quiet,
            root,
            trainer,
            train,
            held,
            outputs,
            fingerprints,
            order,
            st,
            log,
            predictor,
            names,
            written,
            raw_row: (vec![0.0; outputs], vec![0.0; outputs]),
            keep_checkpoint: a.keep_checkpoint || resumed == Some(true),
            resumed: resumed.is_some(),
            interrupt: Interrupt::install(false),
            checkpointed: None,
            last_checkpoint: Instant::now(),
        })
    }

    /// Runs the remaining epochs; SIGINT or SIGTERM (in a single process)
    /// stops them at a step boundary with the run checkpointed.
    pub fn run(mut self, world: &World) -> Result<(), Failure> {
        let ck = self.cfg.checkpoint.display().to_string();
        if self.st.stopped {
            return self.say(format!(
                "the run saved in {ck} had already stopped early, at epoch {} (a longer run stops there too)",
                self.st.epoch - 1
            ));
        }
        if self.st.epoch > self.cfg.epochs {
            let n = self.cfg.epochs;
            return self.say(format!(
                "the run saved in {ck} had already finished its {n} epochs; --epochs N with N > {n} continues it"
            ));
        }
        if world.size() > 1 {
            let (b, p, r) = (self.batch(), world.size(), self.trainer.shard_rows());
            self.say(format!(
                "distributed: {p} ranks × {} thread{} (rank 0), a batch of {b} rows, {} a rank (rank 0's in shards of {r})",
                self.trainer.threads(),
                if self.trainer.threads() == 1 { "" } else { "s" },
                b / p
            ))?;
        }
        // Caught from before the log's first line, so that a signal after
        // it always finds the handlers.
        self.interrupt = Interrupt::install(world.size() == 1);
        self.summary()?;
        self.log_start()?;

        // Elapsed time: what the runs before a resume took, plus this one's.
        let (start, before) = (Instant::now(), self.st.elapsed);
        while self.st.epoch <= self.cfg.epochs && !self.st.stopped {
            if let Some(sig) = self.interrupt.caught() {
                return Err(self.stop(sig));
            }
            let t0 = Instant::now();
            let rows = self.run_epoch()?;
            let rate = rows as f64 / t0.elapsed().as_secs_f64();
            self.end_epoch(rate, before + start.elapsed().as_secs_f64())?;
        }
        self.finish()
    }

    /// After the last epoch: the checkpoint removed unless it is to be
    /// kept, and where the model is.
    fn finish(&self) -> Result<(), Failure> {
        let ck = &self.cfg.checkpoint;
        if self.root && !self.keep_checkpoint {
            backprop::model::remove_written(ck)?;
        }
        self.say(format!("saved {}", self.cfg.out.display()))?;
        if self.keep_checkpoint {
            let cmd = resume_command(ck);
            self.say(format!("kept {} (`{cmd} --epochs N` continues the run)", ck.display()))?;
        }
        Ok(())
    }

    /// Stops the run after `sig`, at a step boundary: the checkpoint
    /// written, and the report that says how to continue.
    fn stop(&mut self, sig: Signal) -> Failure {
        // After an epoch's end its checkpoint already holds the run.
        if self.checkpointed != Some(self.trainer.steps()) {
            if let Err(f) = self.checkpoint() {
                return f;
            }
        }
        let batches = self.train.rows.div_ceil(self.batch());
        let at = match (self.trainer.steps(), self.st.batch) {
            (0, _) => "before the first step".to_string(),
            (s, 0) => format!("after epoch {} (step {s})", self.st.epoch - 1),
            (s, b) => format!("after batch {b} of {batches} in epoch {} (step {s})", self.st.epoch),
        };
        let report = format!(
            "{}: stopped {at}; {} holds the run; continue it with\n  {}",
            sig.name(),
            self.cfg.checkpoint.display(),
            resume_command(&self.cfg.checkpoint)
        );
        Failure::interrupted(sig.exit_code(), report)
    }

    /// The log's line for where the run starts (the run's first line, or
    /// where a resumed one picks up).
    fn log_start(&mut self) -> Result<(), Failure> {
        if self.log.is_none() {
            return Ok(());
        }
        let start = if self.resumed {
            let (epoch, batch, epochs) = (self.st.epoch, self.st.batch + 1, self.cfg.epochs);
            Start::Resumed { epoch, batch, step: self.trainer.steps() + 1, epochs }
        } else {
            let mlp = self.trainer.mlp();
            let facts = serde_json::json!({
                "rows": self.train.rows,
                "heldout_rows": self.held.as_ref().map(|h| h.rows),
                "features": mlp.inputs(),
                "outputs": self.outputs,
                "layers": mlp.sizes(),
                "parameters": mlp.params().len(),
                "threads": self.trainer.threads(),
                "simd": backprop::simd_path().name(),
                "gemm": backprop::kernels::gemm::Mode::of(self.cfg.precision).to_string(),
            });
            Start::Fresh { cfg: &self.cfg, facts: facts.as_object().cloned().unwrap_or_default() }
        };
        let line = start.json(&self.st.run);
        self.log_line(&line)
    }

    /// Appends `line` to the log (when there is one), flushed, and notes
    /// the log's length for the next checkpoint. The line and its newline
    /// go in one write, so that a kill all but never tears a line; a run
    /// that finds a torn last line cuts it (a resumed one cuts back to its
    /// checkpoint's length).
    fn log_line(&mut self, line: &str) -> Result<(), Failure> {
        if let (Some(f), Some(p)) = (&mut self.log, &self.cfg.log) {
            let io = |e| backprop::Error::io(p, e);
            f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.flush()).map_err(io)?;
            self.st.log_len = f.metadata().map_err(io)?.len();
        }
        Ok(())
    }

    /// Rows per step: the batch size, or every row when there are fewer.
    fn batch(&self) -> usize {
        self.cfg.batch_size.min(self.train.rows)
    }

    fn say(&self, line: String) -> Result<(), Failure> {
        if self.quiet {
            return Ok(());
        }
        say(line)
    }

    /// The rest of the current epoch; returns the rows trained.
    fn run_epoch(&mut self) -> Result<usize, Failure> {
        let b = self.batch();
        let batches = self.train.rows.div_ceil(b);
        if self.st.batch == 0 {
            if !self.cfg.no_shuffle {
                self.st.rng.shuffle(&mut self.order);
            }
            self.st.metrics = Metrics::new(self.cfg.head, self.outputs);
        }
        let at = EpochAt { epoch: self.st.epoch, epochs: self.cfg.epochs, batches, done: self.st.batch };
        let bar = progress(self.quiet, at);
        // The epoch's steps on the trainer's pool thread: no hand-over a step.
        let rows = Trainer::within_of(self, |s| &mut s.trainer, |s| s.steps(batches, &bar));
        bar.finish_and_clear();
        rows
    }

    /// The epoch's batches from the current one on (`batches` in all), with
    /// their scores; returns the rows trained.
    fn steps(&mut self, batches: usize, bar: &ProgressBar) -> Result<usize, Failure> {
        let b = self.batch();
        let mut rows = 0;
        while self.st.batch < batches {
            let idx = &self.order[self.st.batch * b..((self.st.batch + 1) * b).min(self.train.rows)];
            let (x, t) = (&self.train.x, &self.train.t);
            let stepped = match &self.train.w {
                Some(w) => self.trainer.step_rows_weighted(x, t, w, idx),
                None => self.trainer.step_rows(x, t, idx),
            };
            if let Err(e) = stepped {
                return Err(self.diverged(e));
            }
            let n = idx.len();
            self.score_step(self.st.batch * b);
            rows += n;
            self.st.batch += 1;
            bar.inc(1);
            if let Some(sig) = self.interrupt.caught().filter(|_| self.st.batch < batches) {
                bar.finish_and_clear();
                return Err(self.stop(sig));
            }
            let every = self.cfg.checkpoint_every.unwrap_or(0);
            if every > 0 && self.trainer.steps().is_multiple_of(every) && self.st.batch < batches {
                self.checkpoint()?;
            }
        }
        Ok(rows)
    }

    /// Adds the last step's rows, from position `from` of the epoch's
    /// order, to the epoch's scores.
    fn score_step(&mut self, from: usize) {
        let (o, targets) = (self.outputs, &self.trainer.mlp().scaling().targets);
        let rows = self.order[from..].iter().map(|&r| (&self.train.t[r * o..(r + 1) * o], r));
        let scored = self.trainer.last_outputs().zip(rows).zip(self.trainer.last_losses());
        for ((y, (t, r)), l) in scored {
            let w = self.train.w.as_ref().map_or(1.0, |w| w[r]);
            match targets {
                // Scored in the targets' units, as the held-out rows are.
                Some(s) => {
                    let (yr, tr) = &mut self.raw_row;
                    yr.copy_from_slice(y);
                    tr.copy_from_slice(t);
                    s.unapply(yr);
                    s.unapply(tr);
                    self.st.metrics.add_weighted_row(yr, tr, l, w);
                }
                None => self.st.metrics.add_weighted_row(y, t, l, w),
            }
        }
    }

    /// Scores, saves, logs and checkpoints the epoch just finished.
    fn end_epoch(&mut self, rate: f64, elapsed: f64) -> Result<(), Failure> {
        let train = self.st.metrics.scores();
        let held = match (&self.held, &mut self.predictor) {
            (Some(h), Some(p)) => {
                p.load(self.trainer.mlp())?;
                Some(common::score(
                    p,
                    self.cfg.head,
                    self.outputs,
                    common::Labeled { x: &h.x, t: &h.t, w: h.w.as_deref(), rows: h.rows },
                )?)
            }
            _ => None,
        };
        let improved = match (held, self.st.best) {
            (Some(h), Some(best)) => h.loss < best,
            _ => true,
        };
        if improved {
            self.st.best = held.map(|h| h.loss);
            self.st.bad_epochs = 0;
        } else {
            self.st.bad_epochs += 1;
        }
        let stopping = self.cfg.patience.is_some_and(|p| self.st.bad_epochs >= p);
        let wrote = self.epoch_files(improved, stopping)?;
        let tc = self.trainer.config();
        let lr = tc.schedule.lr(tc.lr, self.trainer.steps());
        let comm = self.trainer.collective().map(|_| self.trainer.communication_seconds());
        let report = Report { epoch: self.st.epoch, epochs: self.cfg.epochs, train, held, rate, elapsed, lr, comm };
        self.say(report.text(&self.cfg))?;
        self.log_line(&report.json(&self.cfg, &self.st.run, wrote))?;
        if stopping {
            let p = self.cfg.patience.unwrap_or(0);
            let best = self.st.best.map_or(String::new(), |b| format!(" (best held-out loss {b:.4})"));
            self.say(format!("early stop: no improvement for {p} epochs{best}"))?;
            self.st.stopped = true;
        }
        self.st.epoch += 1;
        self.st.batch = 0;
        self.st.elapsed = elapsed;
        if wrote.checkpoint {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// What the epoch just finished writes, and the model file written:
    /// the checkpoint at the last epoch, or when `--checkpoint-seconds`
    /// have passed since the last one; the model then too, and every
    /// `--save-every` epochs, or (with `--patience`) at each new best
    /// alone. A run killed between two checkpoints resumes from the
    /// earlier one and replays the epochs after it, to the same bits.
    fn epoch_files(&mut self, improved: bool, stopping: bool) -> Result<Wrote, Failure> {
        let last = stopping || self.st.epoch >= self.cfg.epochs;
        let seconds = self.cfg.checkpoint_seconds;
        let checkpoint = last || seconds <= 0.0 || self.last_checkpoint.elapsed().as_secs_f64() >= seconds;
        let every = self.cfg.save_every.is_some_and(|n| (self.st.epoch as u64).is_multiple_of(n));
        let model = if self.cfg.patience.is_some() { improved } else { checkpoint || every };
        if model {
            if self.root {
                let mut meta = self.names.metadata();
                meta.insert(crate::inspect::TRAINING_KEY.to_string(), self.cfg.settings());
                let bytes = self.trainer.mlp().to_safetensors_with(&meta)?;
                backprop::model::write_atomic(&self.cfg.out, &bytes)?;
            }
            self.written.0 = Some(self.st.epoch);
        }
        Ok(Wrote { model, checkpoint })
    }

    /// Writes the checkpoint (rank 0 alone).
    fn checkpoint(&mut self) -> Result<(), Failure> {
        self.written.1 = true;
        self.last_checkpoint = Instant::now();
        self.checkpointed = Some(self.trainer.steps());
        if !self.root {
            return Ok(());
        }
        let saved = Saved {
            run: self.cfg.clone(),
            progress: self.st.clone(),
            steps: self.trainer.steps(),
            names: self.names.clone(),
            layers: self.trainer.mlp().sizes().to_vec(),
            scaling: self.trainer.mlp().scaling().clone(),
            encoding: self.trainer.mlp().encoding().cloned(),
            fingerprints: self.fingerprints.clone(),
            keep_checkpoint: self.keep_checkpoint,
        };
        let text = serde_json::to_string(&saved).map_err(|e| backprop::Error::config("checkpoint", e.to_string()))?;
        let [m, v] = self.trainer.optimizer_state();
        let ck = Checkpoint {
            meta: BTreeMap::from([(SAVED_KEY.to_string(), text)]),
            params: self.trainer.mlp().params().to_vec(),
            slots: [m.to_vec(), v.to_vec()],
            order: self.order.iter().map(|&r| r as u32).collect(),
        };
        ck.save(&self.cfg.checkpoint).map_err(Failure::from)
    }
}

/// The command that continues the run in the checkpoint `ck`, as this
/// program was started (`target/release/backprop`, or `backprop` on PATH).
fn resume_command(ck: &Path) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "backprop".to_string());
    shell_words::join([program.as_str(), "train", "--resume", &ck.to_string_lossy()])
}
