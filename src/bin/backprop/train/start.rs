//! Starting a run from the flags, or resuming one from its checkpoint: the
//! model, the data, the files checked before any work, the saved state.

use super::config::RunConfig;
use super::data;
use super::data::RunData;
use super::session::{Launch, Progress, Saved, Session};
use super::world::World;
use super::TrainArgs;
use crate::files::{check_writable, refuse_clobbering};
use crate::labels::{read_model, Names};
use crate::Failure;
use backprop::metrics::Metrics;
use backprop::model::{Scaling, Standardizer};
use backprop::train::{file_fingerprint, Checkpoint};
use backprop::Mlp;
use std::collections::BTreeMap;
use std::path::Path;

/// The model from `--init` and its names, checked against the
/// architecture flags.
fn init_model(a: &TrainArgs) -> Result<Option<(Mlp, Names)>, Failure> {
    let Some(path) = &a.init else { return Ok(None) };
    let (m, names) = read_model(path)?;
    let hidden = &m.sizes()[1..m.sizes().len() - 1];
    let clash = |flag: &str, given: String, file: String| {
        Failure::usage(format!("{flag} {given} conflicts with the model in {} ({file})", path.display()))
    };
    if let Some(h) = a.hidden.as_ref().filter(|h| h.0 != hidden) {
        let list = |v: &[usize]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        return Err(clash("--hidden", list(&h.0), format!("hidden {}", list(hidden))));
    }
    if let Some(act) = a.activation.filter(|&x| x != m.activation()) {
        return Err(clash("--activation", act.to_string(), m.activation().to_string()));
    }
    if let Some(head) = a.head.filter(|&h| h != m.head()) {
        return Err(clash("--head", head.to_string(), m.head().to_string()));
    }
    Ok(Some((m, names)))
}

/// A fresh run's standardisation, from its training rows alone (the
/// held-out rows are already split off), weighted by their row weights.
/// A category's one-hot inputs stay 0 and 1 (mean 0, deviation 1).
fn fit_scaling(cfg: &RunConfig, data: &RunData) -> backprop::Result<Scaling> {
    let (train, features, outputs) = (&data.train, data.features, data.outputs);
    let w = train.w.as_deref();
    let fit = |on: bool, v: &[f32], cols: usize| on.then(|| Standardizer::fit_weighted(v, cols, w)).transpose();
    let mut inputs = fit(cfg.standardize, &train.x, features)?;
    if let (Some(s), Some(enc)) = (inputs.as_mut(), &data.encoding) {
        for (i, _) in enc.one_hot_inputs().into_iter().enumerate().filter(|(_, one_hot)| *one_hot) {
            (s.mean[i], s.std[i]) = (0.0, 1.0);
        }
    }
    Ok(Scaling { inputs, targets: fit(cfg.standardize_targets, &train.t, outputs)? })
}

/// The run's data files, by flag.
fn data_files(cfg: &RunConfig) -> Vec<(&'static str, &Path)> {
    let mut files = vec![("--data", cfg.data.as_path())];
    if let Some(p) = &cfg.test {
        files.push(("--test", p.as_path()));
    }
    files
}

/// The identities of the run's data files, to recognise them on resume.
fn fingerprints(cfg: &RunConfig) -> Result<BTreeMap<String, String>, Failure> {
    data_files(cfg).into_iter().map(|(k, p)| Ok((k.to_string(), file_fingerprint(p)?))).collect()
}

/// Before any work: no output is an input or another output, every output
/// can be written.
fn check_files(cfg: &RunConfig) -> Result<(), Failure> {
    let mut inputs = data_files(cfg);
    if let Some(p) = &cfg.init {
        inputs.push(("--init", p));
    }
    let mut outputs = vec![("--out", cfg.out.as_path()), ("--checkpoint", cfg.checkpoint.as_path())];
    if let Some(p) = &cfg.log {
        outputs.push(("--log", p));
    }
    refuse_clobbering(&inputs, &outputs)?;
    check_writable("--out", &cfg.out)?;
    check_writable("--checkpoint", &cfg.checkpoint)?;
    if let Some(log) = &cfg.log {
        // Appended to, not replaced: an existing log must open for
        // appending, a new one be creatable (it is created when training
        // starts, so that a run refused before then leaves no file).
        if log.exists() {
            std::fs::OpenOptions::new().append(true).open(log).map_err(|e| backprop::Error::io(log, e))?;
        } else {
            check_writable("--log", log)?;
        }
    }
    Ok(())
}

/// Before any work: the files checked by rank 0, which alone writes them.
fn prepare(world: &World, cfg: &RunConfig) -> Result<(), Failure> {
    world.agree(if world.is_root() { check_files(cfg) } else { Ok(()) })
}

/// A failure on every rank unless every rank read the same data and runs
/// the same settings as rank 0.
fn same_run(world: &World, cfg: &RunConfig, fingerprints: &BTreeMap<String, String>) -> Result<(), Failure> {
    world.same("the data files (size or contents)", fingerprints)?;
    let text = serde_json::to_string(cfg).map_err(|e| backprop::Error::config("settings", e.to_string()))?;
    world.same("the settings (flags)", &text)
}

/// A new run from the flags.
pub fn start(a: &TrainArgs, world: &World) -> Result<(), Failure> {
    let (init, init_names) = world.agree(init_model(a))?.unzip();
    let cfg = world.agree(RunConfig::from_args(a, init.as_ref()))?;
    prepare(world, &cfg)?;
    // A model to continue reads the columns as it was trained to.
    let encoding = init.as_ref().zip(init_names.as_ref()).map(|(m, n)| n.columns(m.encoding(), m.inputs()));
    let classes = init_names.and_then(|n| n.classes);
    let data = world.agree(data::load(&cfg, init.as_ref().map(|m| m.outputs()), classes, encoding))?;
    let (features, outputs) = (data.features, data.outputs);
    let fingerprints = world.agree(fingerprints(&cfg))?;
    same_run(world, &cfg, &fingerprints)?;
    let mlp = world.agree(match init {
        Some(m) if m.inputs() != features || m.outputs() != outputs => {
            let msg = format!(
                "{features} features and {outputs} outputs, but the model {} has {} inputs and {} outputs",
                a.init.as_deref().unwrap_or(Path::new("")).display(),
                m.inputs(),
                m.outputs()
            );
            Err(backprop::Error::format(&cfg.data, None, msg).into())
        }
        Some(m) => Ok(m),
        None => Mlp::builder()
            .input(features)
            .hidden_layers(&cfg.hidden)
            .activation(cfg.activation)
            .head(cfg.head, outputs)
            .seed(cfg.seed)
            .build()
            .and_then(|m| m.with_scaling(fit_scaling(&cfg, &data)?))
            .and_then(|m| m.with_encoding(data.encoding.clone()))
            .map_err(Failure::from),
    })?;
    let log_len = world.agree(match &cfg.log {
        Some(log) if world.is_root() => whole_lines(log),
        _ => Ok(0),
    })?;
    let progress = Progress {
        epoch: 1,
        batch: 0,
        rng: backprop::data::epoch_rng(cfg.seed),
        metrics: Metrics::new(cfg.head, outputs),
        best: None,
        bad_epochs: 0,
        log_len,
        elapsed: 0.0,
        stopped: false,
        run: super::feedback::run_id(),
    };
    let order = (0..data.train.rows).collect();
    let launch = Launch { cfg, mlp, data, fingerprints, order, progress, resumed: None };
    let s = world.agree(Session::new(launch, a, world))?;
    s.run(world)
}

/// Continues the run saved in the checkpoint at `path` (which rank 0 reads
/// and sends to the others: the file need only be on its machine).
pub fn resume(a: &TrainArgs, path: &Path, matches: &clap::ArgMatches, world: &World) -> Result<(), Failure> {
    let bytes = world.share(|| std::fs::read(path).map_err(|e| backprop::Error::io(path, e).into()))?;
    let (ck, saved) = world.agree(
        Checkpoint::from_bytes(&bytes, path)
            .and_then(|ck| Saved::from_checkpoint(&ck, path).map(|saved| (ck, saved)))
            .map_err(Failure::from),
    )?;
    let mut cfg = saved.run;
    world.agree(RunConfig::from_args(a, None).and_then(|given| cfg.refuse_changes(&given, matches)))?;
    if matches.value_source("epochs") == Some(clap::parser::ValueSource::CommandLine) {
        world.agree(cfg.extend(a.epochs, saved.progress.epochs_begun()))?;
    }
    if let Some(r) = a.shard_rows {
        cfg.shard_rows = r;
    }
    prepare(world, &cfg)?;
    let now = world.agree(fingerprints(&cfg))?;
    world.agree(same_data(&cfg, &saved.fingerprints, &now, path))?;
    same_run(world, &cfg, &now)?;
    let bad =
        |what: &str| backprop::Error::format(path, None, format!("checkpoint state: {what} does not fit the run"));
    let outputs = *saved.layers.last().ok_or_else(|| bad("layers"))?;
    let data = world.agree(data::load(&cfg, Some(outputs), saved.names.classes.clone(), saved.encoding.clone()))?;
    let mlp = Mlp::from_parts(saved.layers.clone(), cfg.activation, cfg.head, ck.params.clone())?
        .with_scaling(saved.scaling.clone())
        .map_err(|e| bad(&format!("the scaling ({e})")))?
        .with_encoding(saved.encoding.clone())
        .map_err(|e| bad(&format!("the input encoding ({e})")))?;
    let order: Vec<usize> = ck.order.iter().map(|&r| r as usize).collect();
    if order.len() != data.train.rows || order.iter().any(|&r| r >= data.train.rows) {
        return Err(bad("the row order").into());
    }
    if !saved.progress.metrics.fits(cfg.head, outputs) {
        return Err(bad("the running scores").into());
    }
    let tidy = || tidy_files(&cfg, saved.progress.log_len, &saved.progress.run);
    world.agree(if world.is_root() { tidy() } else { Ok(()) })?;
    let mut progress = saved.progress;
    if progress.run.is_empty() {
        progress.run = super::feedback::run_id();
    }
    let resumed = Some(saved.keep_checkpoint);
    let launch = Launch { cfg, mlp, data, fingerprints: now, order, progress, resumed };
    let mut s = world.agree(Session::new(launch, a, world))?;
    s.trainer.restore(&ck.params, [&ck.slots[0], &ck.slots[1]], saved.steps)?;
    s.run(world)
}

/// An error when a data file's fingerprint is not the one saved.
fn same_data(
    cfg: &RunConfig,
    saved: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    path: &Path,
) -> Result<(), Failure> {
    for (key, file) in data_files(cfg) {
        if saved.get(key) != now.get(key) {
            let msg = format!(
                "the checkpoint was made with other data: {} has changed since (size or contents)",
                file.display()
            );
            return Err(backprop::Error::format(path, None, msg).into());
        }
    }
    Ok(())
}

/// Before a resumed run writes: its own log lines after the checkpoint
/// dropped, temporary files of a killed run removed.
fn tidy_files(cfg: &RunConfig, log_len: u64, run: &str) -> Result<(), Failure> {
    if let Some(log) = &cfg.log {
        drop_own_lines(log, log_len, run)?;
    }
    for target in [&cfg.out, &cfg.checkpoint] {
        backprop::model::remove_dead_temps(target);
    }
    Ok(())
}

/// The length of the log's whole lines, for a new run to append after: a
/// last line without its newline (a run killed while writing it) is cut.
fn whole_lines(log: &Path) -> Result<u64, Failure> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e| backprop::Error::io(log, e);
    let mut f = match std::fs::File::open(log) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        r => r.map_err(io)?,
    };
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8];
    f.seek(SeekFrom::End(-1)).and_then(|_| f.read_exact(&mut last)).map_err(io)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Torn (rare): the whole log read back to find its last newline.
    let bytes = std::fs::read(log).map_err(io)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) as u64;
    truncate_log(log, whole)?;
    Ok(whole)
}

/// Drops the lines that run `run` appended to `log` after its checkpoint,
/// which was taken when the log was `len` bytes long: the resumed run
/// writes them again. Lines of other runs sharing the log stay, in their
/// order, and so does everything before `len`; a last line without its
/// newline (a writer killed mid-line) goes. The kept lines are written in
/// place, so that a run still appending to the log keeps its file; a log
/// that is a device or FIFO is left alone.
fn drop_own_lines(log: &Path, len: u64, run: &str) -> Result<(), Failure> {
    use std::io::{Seek, SeekFrom, Write};
    let io = |e| backprop::Error::io(log, e);
    if backprop::model::is_special(log) {
        return Ok(());
    }
    let bytes = match std::fs::read(log) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        r => r.map_err(io)?,
    };
    let start = (len as usize).min(bytes.len());
    let tail = &bytes[start..];
    let kept: Vec<u8> = tail
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n") && !of_run(l, run))
        .flatten()
        .copied()
        .collect();
    if kept.len() == tail.len() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new().write(true).open(log).map_err(io)?;
    f.seek(SeekFrom::Start(start as u64)).and_then(|_| f.write_all(&kept)).map_err(io)?;
    Ok(f.set_len((start + kept.len()) as u64).map_err(io)?)
}

/// Whether the log line `line` is run `run`'s (its `"run"` field).
fn of_run(line: &[u8], run: &str) -> bool {
    let v: Option<serde_json::Value> = serde_json::from_slice(line).ok();
    v.as_ref().and_then(|v| v.get("run")?.as_str()).is_some_and(|r| r == run)
}

/// Cuts the log back to `len` bytes (a torn last line).
fn truncate_log(log: &Path, len: u64) -> Result<(), Failure> {
    let io = |e| backprop::Error::io(log, e);
    if std::fs::metadata(log).map(|m| m.len() > len).unwrap_or(false) {
        std::fs::OpenOptions::new().write(true).open(log).and_then(|f| f.set_len(len)).map_err(io)?;
    }
    Ok(())
}
