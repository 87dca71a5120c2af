//! A training run: the epoch loop, held-out scoring, early stopping, model
//! saves, checkpoints, and resuming from one.
//!
//! The loop's whole state (parameters, optimizer state, step and epoch
//! counters, the generator, the epoch's row order and the position in it, the
//! running scores, the early-stopping record, the log's length) goes into
//! every checkpoint, so a resumed run continues exactly where the saved one
//! stood and ends with the same model file, byte for byte.

use super::config::{Held, RunConfig};
use super::data::{self, Split};
use super::TrainArgs;
use crate::common;
use crate::Failure;
use backprop::data::Batcher;
use backprop::metrics::{Metrics, Scores};
use backprop::rng::Rng;
use backprop::train::{file_fingerprint, Checkpoint};
use backprop::{json, Head, Mlp, Trainer};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

/// Seed offset of the row-order stream (initial weights use the seed itself).
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_4531;

/// Where the loop stands, and what it has seen.
struct State {
    /// The current epoch, from 1 (past the last when the run is over).
    epoch: usize,
    /// The next batch of the epoch.
    batch: usize,
    order: Vec<usize>,
    rng: Rng,
    metrics: Metrics,
    best: Option<f64>,
    bad_epochs: usize,
    log_len: u64,
    elapsed: f64,
    stopped: bool,
}

struct Session {
    cfg: RunConfig,
    quiet: bool,
    trainer: Trainer,
    train: Split,
    held: Option<Split>,
    outputs: usize,
    fingerprints: BTreeMap<String, String>,
    st: State,
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

/// The run's data files and the checkpoint keys of their identities.
fn data_files(cfg: &RunConfig) -> Vec<(&'static str, &Path)> {
    let mut files = vec![("state.data_fingerprint", cfg.data.as_path())];
    if let Held::Test(p) = &cfg.held {
        files.push(("state.test_fingerprint", p.as_path()));
    }
    files
}

/// The identities of the run's data files, to recognise them on resume.
fn fingerprints(cfg: &RunConfig) -> Result<BTreeMap<String, String>, Failure> {
    data_files(cfg).into_iter().map(|(k, p)| Ok((k.to_string(), file_fingerprint(p)?))).collect()
}

/// A new run from the flags.
pub fn start(a: &TrainArgs) -> Result<(), Failure> {
    let init = init_model(a)?;
    let cfg = RunConfig::from_args(a, init.as_ref())?;
    let (train, held, features, outputs) = data::load(&cfg, init.as_ref().map(|m| m.outputs()))?;
    let mlp = match init {
        Some(m) if m.inputs() != features || m.outputs() != outputs => {
            let msg = format!(
                "{features} features and {outputs} outputs, but the model {} has {} inputs and {} outputs",
                a.init.as_deref().unwrap_or(Path::new("")).display(),
                m.inputs(),
                m.outputs()
            );
            return Err(backprop::Error::format(&cfg.data, None, msg).into());
        }
        Some(m) => m,
        None => Mlp::builder()
            .input(features)
            .hidden_layers(&cfg.hidden)
            .activation(cfg.activation)
            .head(cfg.head, outputs)
            .seed(cfg.seed)
            .build()?,
    };
    let log_len = cfg.log.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
    let state = State {
        epoch: 1,
        batch: 0,
        order: (0..train.rows).collect(),
        rng: Rng::new(cfg.seed ^ SHUFFLE_STREAM),
        metrics: Metrics::new(cfg.head, outputs),
        best: None,
        bad_epochs: 0,
        log_len,
        elapsed: 0.0,
        stopped: false,
    };
    let fingerprints = fingerprints(&cfg)?;
    Session::new(cfg, a, mlp, train, held, outputs, fingerprints, state)?.run()
}

/// Continues the run saved in the checkpoint at `path`.
pub fn resume(a: &TrainArgs, path: &Path, matches: &clap::ArgMatches) -> Result<(), Failure> {
    let ck = Checkpoint::load(path)?;
    let cfg = RunConfig::from_meta(&ck.meta, path)?;
    cfg.refuse_changes(&RunConfig::from_args(a, None)?, matches)?;
    let now = fingerprints(&cfg)?;
    for (key, file) in data_files(&cfg) {
        if ck.meta.get(key) != now.get(key) {
            let msg = format!(
                "the checkpoint was made with other data: {} has changed since (size or contents)",
                file.display()
            );
            return Err(backprop::Error::format(path, None, msg).into());
        }
    }
    let bad = |k: &str| backprop::Error::format(path, None, format!("checkpoint state {k} is missing or malformed"));
    let get = |k: &str| ck.meta.get(k).cloned().ok_or_else(|| bad(k));
    let sizes = common::sizes(&get("state.layers")?).map_err(|_| bad("state.layers"))?.0;
    let outputs = *sizes.last().ok_or_else(|| bad("state.layers"))?;
    let (train, held, _, _) = data::load(&cfg, Some(outputs))?;
    let mlp = Mlp::from_parts(sizes, cfg.activation, cfg.head, ck.params.clone())?;
    let state = restore_state(&ck, &cfg, train.rows, outputs).ok_or_else(|| bad("state"))?;
    if let Some(log) = &cfg.log {
        truncate_log(log, state.log_len)?;
    }
    remove_stale_temps(&cfg);
    let steps = get("state.steps")?.parse().map_err(|_| bad("state.steps"))?;
    let mut s = Session::new(cfg, a, mlp, train, held, outputs, now, state)?;
    s.trainer.restore(&ck.params, [&ck.slots[0], &ck.slots[1]], steps)?;
    s.run()
}

/// The loop's state from a checkpoint, or `None` when a field is bad.
fn restore_state(ck: &Checkpoint, cfg: &RunConfig, rows: usize, outputs: usize) -> Option<State> {
    let get = |k: &str| ck.meta.get(k);
    let rng: Vec<u64> = get("state.rng")?.split(',').map(|w| u64::from_str_radix(w, 16).ok()).collect::<Option<_>>()?;
    let order: Vec<usize> = ck.order.iter().map(|&r| r as usize).collect();
    if order.len() != rows || order.iter().any(|&r| r >= rows) {
        return None;
    }
    let best = get("state.best")?;
    Some(State {
        epoch: get("state.epoch")?.parse().ok()?,
        batch: get("state.batch")?.parse().ok()?,
        order,
        rng: Rng::from_state(rng.try_into().ok()?),
        metrics: Metrics::decode(cfg.head, outputs, get("state.metrics")?)?,
        best: if best.is_empty() { None } else { Some(best.parse().ok()?) },
        bad_epochs: get("state.bad_epochs")?.parse().ok()?,
        log_len: get("state.log_len")?.parse().ok()?,
        elapsed: get("state.elapsed")?.parse().ok()?,
        stopped: get("state.stopped")?.parse().ok()?,
    })
}

/// Cuts lines a killed run appended after its last checkpoint: the resumed
/// run writes them again.
fn truncate_log(log: &Path, len: u64) -> Result<(), Failure> {
    let io = |e| backprop::Error::io(log, e);
    if std::fs::metadata(log).map(|m| m.len() > len).unwrap_or(false) {
        std::fs::OpenOptions::new().write(true).open(log).and_then(|f| f.set_len(len)).map_err(io)?;
    }
    Ok(())
}

/// Removes temporary files a killed run left beside the model and checkpoint.
fn remove_stale_temps(cfg: &RunConfig) {
    for target in [&cfg.out, &cfg.checkpoint] {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name().and_then(|n| n.to_str())) else { continue };
        let prefix = format!(".{name}.tmp-");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cfg: RunConfig,
        a: &TrainArgs,
        mlp: Mlp,
        train: Split,
        held: Option<Split>,
        outputs: usize,
        fingerprints: BTreeMap<String, String>,
        st: State,
    ) -> Result<Session, Failure> {
        let steps = (cfg.epochs * train.rows.div_ceil(cfg.batch_size)) as u64;
        let trainer = Trainer::with_optimizer(mlp, cfg.train_config(a.threads, steps), cfg.optimizer())?;
        Ok(Session { cfg, quiet: a.quiet, trainer, train, held, outputs, fingerprints, st })
    }

    /// Runs the remaining epochs.
    fn run(mut self) -> Result<(), Failure> {
        if self.st.epoch > self.cfg.epochs || self.st.stopped {
            self.say(format!("the run saved in {} had already finished", self.cfg.checkpoint.display()));
            return Ok(());
        }
        let mut batcher = Batcher::new(self.cfg.batch_size, self.train.x.len() / self.train.rows.max(1), self.outputs);
        // Elapsed time: what the runs before a resume took, plus this one's.
        let (start, before) = (Instant::now(), self.st.elapsed);
        while self.st.epoch <= self.cfg.epochs && !self.st.stopped {
            let t0 = Instant::now();
            let rows = self.run_epoch(&mut batcher)?;
            let rate = rows as f64 / t0.elapsed().as_secs_f64();
            self.end_epoch(rate, before + start.elapsed().as_secs_f64())?;
        }
        self.say(format!("saved {}", self.cfg.out.display()));
        Ok(())
    }

    fn say(&self, line: String) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// The rest of the current epoch; returns the rows trained.
    fn run_epoch(&mut self, batcher: &mut Batcher) -> Result<usize, Failure> {
        let b = self.cfg.batch_size;
        let batches = self.train.rows.div_ceil(b);
        if self.st.batch == 0 {
            if !self.cfg.no_shuffle {
                self.st.rng.shuffle(&mut self.st.order);
            }
            self.st.metrics = Metrics::new(self.cfg.head, self.outputs);
        }
        let bar = progress(self.quiet, self.st.epoch, self.cfg.epochs, batches, self.st.batch);
        let mut rows = 0;
        while self.st.batch < batches {
            let idx = &self.st.order[self.st.batch * b..((self.st.batch + 1) * b).min(self.train.rows)];
            let (x, t) = batcher.gather(&self.train.x, &self.train.t, idx)?;
            if let Err(e) = self.trainer.step(x, t, idx.len()) {
                return Err(self.diverged(e));
            }
            let o = self.outputs;
            for ((y, t), l) in self.trainer.last_outputs().zip(t.chunks_exact(o)).zip(self.trainer.last_losses()) {
                self.st.metrics.add_row(y, t, l);
            }
            rows += idx.len();
            self.st.batch += 1;
            bar.inc(1);
            let every = self.cfg.checkpoint_every.unwrap_or(0);
            if every > 0 && self.trainer.steps().is_multiple_of(every) && self.st.batch < batches {
                self.checkpoint()?;
            }
        }
        bar.finish_and_clear();
        Ok(rows)
    }

    /// The error for a non-finite loss or gradient: the files keep the last
    /// good state, since nothing is written after it.
    fn diverged(&self, e: backprop::Error) -> Failure {
        let msg = format!(
            "epoch {}, step {}: {e}; training stopped, and {} and {} keep their last good state",
            self.st.epoch,
            self.trainer.steps() + 1,
            self.cfg.out.display(),
            self.cfg.checkpoint.display()
        );
        Failure::from(backprop::Error::config("diverged", msg))
    }

    /// Scores, saves, logs and checkpoints the epoch just finished.
    fn end_epoch(&mut self, rate: f64, elapsed: f64) -> Result<(), Failure> {
        let train = self.st.metrics.scores();
        let held = match &self.held {
            Some(h) => Some(common::score(self.trainer.mlp(), &h.x, &h.t, h.rows)?),
            None => None,
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
        if improved || self.cfg.patience.is_none() {
            self.trainer.mlp().save(&self.cfg.out)?;
        }
        let tc = self.trainer.config();
        let lr = tc.schedule.lr(tc.lr, self.trainer.steps());
        let report = Report { epoch: self.st.epoch, epochs: self.cfg.epochs, train, held, rate, elapsed, lr };
        self.say(report.text(&self.cfg));
        if let Some(log) = &self.cfg.log {
            let io = |e| backprop::Error::io(log, e);
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(io)?;
            writeln!(f, "{}", report.json(&self.cfg)).and_then(|()| f.flush()).map_err(io)?;
            self.st.log_len = f.metadata().map_err(io)?.len();
        }
        if let Some(p) = self.cfg.patience.filter(|&p| self.st.bad_epochs >= p) {
            let best = self.st.best.map_or(String::new(), |b| format!(" (best held-out loss {b:.4})"));
            self.say(format!("early stop: no improvement for {p} epochs{best}"));
            self.st.stopped = true;
        }
        self.st.epoch += 1;
        self.st.batch = 0;
        self.st.elapsed = elapsed;
        self.checkpoint()
    }

    /// Writes the checkpoint.
    fn checkpoint(&self) -> Result<(), Failure> {
        let mut meta = self.cfg.to_meta();
        meta.extend(self.fingerprints.clone());
        let st = &self.st;
        let rng = st.rng.state().iter().map(|w| format!("{w:016x}")).collect::<Vec<_>>().join(",");
        let layers = self.trainer.mlp().sizes().iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        for (k, v) in [
            ("state.epoch", st.epoch.to_string()),
            ("state.batch", st.batch.to_string()),
            ("state.steps", self.trainer.steps().to_string()),
            ("state.rng", rng),
            ("state.metrics", st.metrics.encode()),
            ("state.best", st.best.map_or(String::new(), |b| format!("{b:?}"))),
            ("state.bad_epochs", st.bad_epochs.to_string()),
            ("state.log_len", st.log_len.to_string()),
            ("state.elapsed", format!("{:?}", st.elapsed)),
            ("state.stopped", st.stopped.to_string()),
            ("state.layers", layers),
        ] {
            meta.insert(k.to_string(), v);
        }
        let [m, v] = self.trainer.optimizer_state();
        let ck = Checkpoint {
            meta,
            params: self.trainer.mlp().params().to_vec(),
            slots: [m.to_vec(), v.to_vec()],
            order: st.order.iter().map(|&r| r as u32).collect(),
        };
        ck.save(&self.cfg.checkpoint).map_err(Failure::from)
    }
}

/// A progress bar on stderr when it is a terminal (and not --quiet).
fn progress(quiet: bool, epoch: usize, epochs: usize, batches: usize, done: usize) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(batches as u64);
    let style = indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:40}] {pos}/{len} batches, {per_sec}");
    if let Ok(s) = style {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar.set_position(done as u64);
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
    lr: f64,
}

impl Report {
    fn held_name(cfg: &RunConfig) -> &'static str {
        if matches!(cfg.held, Held::Val(_)) {
            "val "
        } else {
            "test "
        }
    }

    fn text(&self, cfg: &RunConfig) -> String {
        let w = self.epochs.to_string().len();
        let mut s = format!("epoch {:>w$}/{}  {}", self.epoch, self.epochs, common::text_scores(&self.train, "train "));
        if let Some(h) = &self.held {
            s += &format!("  {}", common::text_scores(h, Self::held_name(cfg)));
        }
        s + &format!("  {:.0} samples/s  {:.1}s", self.rate, self.elapsed)
    }

    fn json(&self, cfg: &RunConfig) -> String {
        let mut f = vec![format!("\"epoch\":{}", self.epoch), common::json_scores(&self.train, "train_")];
        if let Some(h) = &self.held {
            f.push(common::json_scores(h, if matches!(cfg.held, Held::Val(_)) { "val_" } else { "test_" }));
        }
        f.push(format!("\"samples_per_sec\":{}", json::number(self.rate)));
        f.push(format!("\"elapsed_sec\":{}", json::number(self.elapsed)));
        f.push(format!("\"lr\":{}", json::number(self.lr)));
        format!("{{{}}}", f.join(","))
    }
}
