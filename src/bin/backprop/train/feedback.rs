//! What a run tells its user: the progress bar, the line of each epoch, and
//! the log's lines (one JSON object each: the run's first line with its
//! settings, a line where a resumed run picks up, one line per epoch; every
//! line carries the run's id, so that runs appending to one log can be told
//! apart).

use super::config::{Held, RunConfig};
use super::ScheduleArg;
use crate::common;
use backprop::metrics::Scores;
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

/// A new run's id: 16 hex digits from the clock and the process id, unique
/// in practice among the runs that share a log.
pub fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The time now, in RFC 3339 (UTC, whole seconds).
fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Where a run starts, for its log line.
pub enum Start<'a> {
    /// A new run, with its settings and what they resolved to.
    Fresh { cfg: &'a RunConfig, facts: Map<String, Value> },
    /// A resumed one: the epoch, the batch of it (from 1) and the step it
    /// continues from, and the epochs it now runs to.
    Resumed { epoch: usize, batch: usize, step: u64, epochs: usize },
}

impl Start<'_> {
    /// The log line: `{"run", "started" | "resumed", "backprop", ...}`.
    pub fn json(&self, run: &str) -> String {
        let mut m = Map::new();
        m.insert("run".into(), run.into());
        let when = match self {
            Start::Fresh { .. } => "started",
            Start::Resumed { .. } => "resumed",
        };
        m.insert(when.into(), now().into());
        m.insert("backprop".into(), env!("CARGO_PKG_VERSION").into());
        match self {
            Start::Fresh { cfg, facts } => {
                m.insert("settings".into(), Value::Object(cfg.fields()));
                m.extend(facts.clone());
            }
            Start::Resumed { epoch, batch, step, epochs } => {
                m.insert("epoch".into(), (*epoch).into());
                m.insert("batch".into(), (*batch).into());
                m.insert("step".into(), (*step).into());
                m.insert("epochs".into(), (*epochs).into());
            }
        }
        Value::Object(m).to_string()
    }
}

/// Where an epoch stands, for its progress bar: epoch `epoch` of `epochs`,
/// `done` of its `batches` batches taken.
pub struct EpochAt {
    pub epoch: usize,
    pub epochs: usize,
    pub batches: usize,
    pub done: usize,
}

/// A progress bar on stderr when it is a terminal (and not --quiet).
pub fn progress(quiet: bool, at: EpochAt) -> indicatif::ProgressBar {
    let EpochAt { epoch, epochs, batches, done } = at;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(batches as u64);
    let style = indicatif::ProgressStyle::with_template(
        // `wide_bar` takes what the terminal's width leaves: the line never wraps.
        "epoch {prefix} [{wide_bar}] {pos}/{len} batches {rate}/s ETA {eta}",
    )
    .map(|s| {
        s.with_key("rate", |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}", st.per_sec());
        })
    });
    if let Ok(s) = style {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar.set_position(done as u64);
    bar
}

/// The files an epoch's end wrote.
#[derive(Clone, Copy, Debug)]
pub struct Wrote {
    pub model: bool,
    pub checkpoint: bool,
}

/// What one epoch's line says.
pub struct Report {
    pub epoch: usize,
    pub epochs: usize,
    pub train: Scores,
    pub held: Option<Scores>,
    pub rate: f64,
    pub elapsed: f64,
    pub lr: f64,
    /// Seconds spent between ranks so far, in a distributed run.
    pub comm: Option<f64>,
}

impl Report {
    fn held_name(cfg: &RunConfig) -> &'static str {
        if matches!(cfg.held(), Held::Val(_)) {
            "val "
        } else {
            "test "
        }
    }

    /// The epoch line: the scores, the learning rate of the epoch's last
    /// step when a schedule moves it, the rate and the time so far.
    pub fn text(&self, cfg: &RunConfig) -> String {
        let w = self.epochs.to_string().len();
        let mut s = format!("epoch {:>w$}/{}  {}", self.epoch, self.epochs, common::text_scores(&self.train, "train "));
        if let Some(h) = &self.held {
            s += &format!("  {}", common::text_scores(h, Self::held_name(cfg)));
        }
        if cfg.lr_schedule != ScheduleArg::Constant || cfg.warmup_steps > 0 {
            s += &format!("  lr {:.4e}", self.lr);
        }
        s += &format!("  {:.0} samples/s  {:.1}s", self.rate, self.elapsed);
        match self.comm {
            Some(c) => s + &format!(" ({c:.1}s between ranks)"),
            None => s,
        }
    }

    /// The log line of the epoch, of the run with id `run`: the same keys whatever the held-out rows are
    /// (`heldout_*`), and `heldout` naming them (`test` or `val`).
    pub fn json(&self, cfg: &RunConfig, run: &str, wrote: Wrote) -> String {
        let mut m = Map::new();
        m.insert("run".into(), run.into());
        m.insert("epoch".into(), self.epoch.into());
        let files = [(wrote.model, "model"), (wrote.checkpoint, "checkpoint")];
        let files: Vec<Value> = files.into_iter().filter(|(w, _)| *w).map(|(_, f)| f.into()).collect();
        m.insert("wrote".into(), files.into());
        m.extend(common::json_scores(&self.train, "train_"));
        if let Some(h) = &self.held {
            m.insert("heldout".into(), Self::held_name(cfg).trim().into());
            m.extend(common::json_scores(h, "heldout_"));
        }
        m.insert("samples_per_sec".into(), self.rate.into());
        m.insert("elapsed_sec".into(), self.elapsed.into());
        m.insert("lr".into(), self.lr.into());
        if let Some(c) = self.comm {
            m.insert("comm_sec".into(), c.into());
        }
        Value::Object(m).to_string()
    }
}
