//! Crash safety: a real `backprop train` killed with SIGKILL at random
//! moments (some while a checkpoint is being written) and resumed ends with
//! a model file byte-identical to the uninterrupted run's. Also: checkpoints
//! that are truncated, of another version or for other data are refused;
//! early stopping keeps the best epoch; divergence leaves the files as they
//! were.

use crate::common;

use crate::common::cli::{epoch_lines, last_run_epoch_lines, log_lines};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch() -> PathBuf {
    common::scratch("resume")
}

/// The binary, with every step sent to the pool however small (a hidden
/// testing setting), so that runs on 2 and 3 threads really are parallel.
fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backprop"));
    c.current_dir(dir).stdout(Stdio::null()).stderr(Stdio::piped()).env("BACKPROP_MIN_PARALLEL_FLOPS", "0");
    c
}

fn output(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn ok(c: &mut Command) {
    let o = output(c);
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CSV of 400 rows, 30 features, 4 classes that a small network learns.
fn write_data(dir: &Path) {
    let mut rng = backprop::rng::Rng::new(42);
    let mut s = String::new();
    for _ in 0..400 {
        let x: Vec<f32> = (0..30).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let class = (x[0] > 0.0) as u8 + 2 * (x[1] + x[2] > 0.0) as u8;
        let cells: Vec<String> = x.iter().map(|v| v.to_string()).collect();
        s += &format!("{},{class}\n", cells.join(","));
    }
    std::fs::write(dir.join("d.csv"), s).unwrap();
}

/// The flags of the run under test: Adam with a warm-up and cosine schedule,
/// clipping, a validation split, early stopping on (but never triggered),
/// a log, and a checkpoint every 3 steps.
fn run_args(out: &str, epochs: usize) -> Vec<String> {
    let a = "train --data d.csv --hidden 256,256 --batch-size 16 --optimizer adam --lr 0.003 \
             --lr-schedule cosine --warmup-steps 5 --clip-norm 1 --val-split 0.2 --patience 10 --checkpoint-every 3 --quiet";
    let mut v: Vec<String> = a.split_whitespace().map(String::from).collect();
    v.extend(["--epochs".into(), epochs.to_string(), "--out".into(), out.into(), "--log".into(), format!("{out}.log")]);
    v
}

fn has_temp(dir: &Path, name: &str) -> bool {
    let prefix = format!(".{name}.tmp-");
    std::fs::read_dir(dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
}

/// Waits until a temporary checkpoint file exists, then kills the child;
/// returns whether it was caught mid-write (false if it finished first).
fn kill_during_write(child: &mut Child, dir: &Path, ckpt: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if has_temp(dir, ckpt) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    panic!("the run took over a minute");
}

#[test]
fn killed_runs_resume_to_the_same_model_file() {
    let dir = scratch();
    write_data(&dir);
    let t0 = Instant::now();
    ok(bin(&dir).args(run_args("ref.safetensors", 4)).arg("--threads").arg("2"));
    let full = t0.elapsed();
    let reference = std::fs::read(dir.join("ref.safetensors")).unwrap();
    let ref_log = epoch_lines(&dir.join("ref.safetensors.log"));
    assert_eq!(ref_log.len(), 4, "one log line per epoch");

    let mut rng = backprop::rng::Rng::new(7);
    let mut caught_mid_write = 0;
    for trial in 0..8 {
        let out = format!("t{trial}.safetensors");
        let ckpt = format!("{out}.ckpt");
        let mut kills = 0;
        loop {
            let resume = dir.join(&ckpt).exists();
            let mut cmd = bin(&dir);
            if resume {
                cmd.args(["train", "--resume", &ckpt, "--quiet", "--threads", if kills % 2 == 0 { "1" } else { "3" }]);
            } else {
                cmd.args(run_args(&out, 4)).args(["--threads", "2"]);
            }
            let mut child = cmd.spawn().unwrap();
            if kills < 3 {
                kills += 1;
                // Half the trials wait for a checkpoint write and kill in it;
                // the rest kill after a random fraction of a full run's time.
                let killed = if trial % 2 == 0 {
                    let k = kill_during_write(&mut child, &dir, &ckpt);
                    caught_mid_write += k as usize;
                    k
                } else {
                    std::thread::sleep(full.mul_f64(rng.next_f64()));
                    let _ = child.kill();
                    // A run that ended on its own just before the kill
                    // exits with success, and is not restarted.
                    !child.wait().unwrap().success()
                };
                if killed {
                    continue;
                }
            }
            let status = child.wait().unwrap();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success() || err.is_empty(), "trial {trial}: {err}");
            if status.success() {
                break;
            }
        }
        let got = std::fs::read(dir.join(&out)).unwrap();
        assert!(got == reference, "trial {trial} ({kills} kills): the model differs from the uninterrupted run's");
        // A kill that lands after a run removed its finished checkpoint but
        // before it exited finds no checkpoint, so the loop starts the run
        // afresh, into the same log: the last run's lines are the ones to
        // match (and, within a run, resuming may neither lose nor repeat
        // an epoch's line).
        let log = dir.join(format!("{out}.log"));
        assert_eq!(last_run_epoch_lines(&log), ref_log, "trial {trial}: log");
    }
    assert!(caught_mid_write >= 2, "only {caught_mid_write} kills landed inside a checkpoint write");
}

#[test]
fn bad_checkpoints_are_refused() {
    let dir = scratch();
    write_data(&dir);
    ok(bin(&dir).args(run_args("m.safetensors", 1)).arg("--keep-checkpoint"));
    let ckpt = std::fs::read(dir.join("m.safetensors.ckpt")).unwrap();
    let refuse = |bytes: &[u8], needles: &[&str]| {
        std::fs::write(dir.join("bad.ckpt"), bytes).unwrap();
        let o = output(bin(&dir).args(["train", "--resume", "bad.ckpt"]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.starts_with("error: ") && err.lines().count() == 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
    };
    refuse(&ckpt[..ckpt.len() / 2], &["bad.ckpt", "truncated"]);
    let mut other = ckpt.clone();
    let at = other.windows(13).position(|w| w == b"\"version\":\"2\"").unwrap();
    other[at + 11] = b'7';
    refuse(&other, &["bad.ckpt", "version \"7\""]);
    // Any byte of the run state changed (here the generator's state, which
    // the old checksum did not cover): refused as corrupt.
    let mut state = ckpt.clone();
    let at = state.windows(7).position(|w| w == b"\\\"rng\\\"").unwrap() + 9;
    state[at] = if state[at] == b'1' { b'2' } else { b'1' };
    refuse(&state, &["bad.ckpt", "checksum"]);
    // Other data under the same name.
    std::fs::write(dir.join("bad.ckpt"), &ckpt).unwrap();
    let data = std::fs::read_to_string(dir.join("d.csv")).unwrap();
    std::fs::write(dir.join("d.csv"), data.replacen("1", "0", 1)).unwrap();
    let o = output(bin(&dir).args(["train", "--resume", "bad.ckpt"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && err.contains("other data") && err.contains("d.csv"), "{err}");
    // A flag that would change the run.
    std::fs::write(dir.join("d.csv"), data).unwrap();
    let o = output(bin(&dir).args(["train", "--resume", "bad.ckpt", "--lr", "0.1"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("--lr"), "{err}");
    // The same value, and --threads, are fine.
    ok(bin(&dir).args(["train", "--resume", "bad.ckpt", "--lr", "0.003", "--threads", "1"]));
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let dir = scratch();
    // 60 training rows with noisy labels: a wide network overfits fast and
    // the held-out loss turns up.
    let mut rng = backprop::rng::Rng::new(3);
    let mut s = String::new();
    for _ in 0..120 {
        let x: Vec<f32> = (0..10).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let class = if rng.next_f32() < 0.3 { rng.below(2) as u8 } else { (x[0] > 0.0) as u8 };
        s += &format!("{},{class}\n", x.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
    }
    let lines: Vec<&str> = s.lines().collect();
    std::fs::write(dir.join("train.csv"), lines[..60].join("\n")).unwrap();
    std::fs::write(dir.join("test.csv"), lines[60..].join("\n")).unwrap();
    let args =
        "train --data train.csv --test test.csv --hidden 256 --optimizer adam --lr 0.01 --epochs 200 --batch-size 8 \
                --patience 3 --log log.jsonl --out m.safetensors --quiet";
    ok(bin(&dir).args(args.split_whitespace()));
    let losses: Vec<f64> =
        log_lines(&dir.join("log.jsonl")).iter().filter_map(|l| l.get("heldout_loss")?.as_f64()).collect();
    assert!(losses.len() < 200, "never stopped");
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    let best_epoch = losses.iter().position(|&l| l == best).unwrap();
    assert_eq!(losses.len(), best_epoch + 1 + 3, "stops 3 epochs after the best: {losses:?}");
    let o = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .current_dir(&dir)
        .args(["eval", "--json", "--model", "m.safetensors", "--data", "test.csv"])
        .output()
        .unwrap();
    let json = String::from_utf8(o.stdout).unwrap();
    let saved = serde_json::from_str::<serde_json::Value>(&json).unwrap()["loss"].as_f64().unwrap();
    assert_eq!(saved, best, "the saved model is the best epoch's");
}

#[test]
fn divergence_stops_and_leaves_the_files_as_they_were() {
    let dir = scratch();
    write_data(&dir);
    ok(bin(&dir).args([
        "train",
        "--data",
        "d.csv",
        "--head",
        "linear",
        "--lr",
        "0.01",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        "m.safetensors",
        "--keep-checkpoint",
    ]));
    let (model, ckpt) =
        (std::fs::read(dir.join("m.safetensors")).unwrap(), std::fs::read(dir.join("m.safetensors.ckpt")).unwrap());
    // The run continues from m into p, whose files hold the last good state.
    std::fs::write(dir.join("p.safetensors"), &model).unwrap();
    std::fs::write(dir.join("p.safetensors.ckpt"), &ckpt).unwrap();
    let o = output(bin(&dir).args([
        "train",
        "--data",
        "d.csv",
        "--init",
        "m.safetensors",
        "--lr",
        "1e30",
        "--out",
        "p.safetensors",
        "--checkpoint-every",
        "5",
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // After the start-of-run summary, one error line.
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: ") && last.contains("epoch 1, step 2") && last.contains("non-finite"), "{err}");
    assert!(err.lines().filter(|l| l.starts_with("error")).count() == 1, "{err}");
    assert!(std::fs::read(dir.join("p.safetensors")).unwrap() == model, "the model file changed");
    assert!(std::fs::read(dir.join("p.safetensors.ckpt")).unwrap() == ckpt, "the checkpoint changed");
}

/// Runs sharing a `--log` stay apart on a resume: run A (checkpoint kept)
/// and run B append to one log; continuing A keeps every line of B, and A
/// ends with one line per epoch. A resume drops only its own lines written
/// after its checkpoint (here: a line of A's appended by hand after B's).
#[test]
fn a_resume_keeps_the_lines_of_other_runs_in_a_shared_log() {
    let dir = scratch().join("shared-log");
    std::fs::create_dir_all(&dir).unwrap();
    write_data(&dir);
    let run = |out: &str, extra: &[&str]| {
        let a = ["train", "--data", "d.csv", "--epochs", "2", "--log", "shared.jsonl", "--quiet", "--out", out];
        ok(bin(&dir).args(a).args(extra));
    };
    run("a.safetensors", &["--keep-checkpoint"]);
    let log = dir.join("shared.jsonl");
    let id_a = log_lines(&log)[0]["run"].clone();
    run("b.safetensors", &[]);
    let of = |lines: &[serde_json::Map<String, serde_json::Value>], id: &serde_json::Value| {
        lines.iter().filter(|l| l.get("run") == Some(id)).cloned().collect::<Vec<_>>()
    };
    let before = log_lines(&log);
    let id_b = before.last().unwrap()["run"].clone();
    let b_lines = of(&before, &id_b);
    assert!(id_a != id_b && b_lines.len() >= 3, "{before:?}");
    // A line of A's after its checkpoint, as a killed A would have left.
    let mut stray = before[1].clone();
    stray.insert("epoch".into(), 99.into());
    let mut text = std::fs::read_to_string(&log).unwrap();
    text += &(serde_json::Value::Object(stray).to_string() + "\n");
    std::fs::write(&log, text).unwrap();
    ok(bin(&dir).args(["train", "--resume", "a.safetensors.ckpt", "--epochs", "3", "--quiet"]));
    let after = log_lines(&log);
    assert_eq!(of(&after, &id_b), b_lines, "B's lines after A's resume");
    let a_lines = of(&after, &id_a);
    let epochs: Vec<u64> =
        a_lines.iter().filter(|l| l.contains_key("train_loss")).filter_map(|l| l.get("epoch")?.as_u64()).collect();
    assert_eq!(epochs, [1, 2, 3], "A's epoch lines");
}

/// Files at epochs' ends follow the cadence, and each epoch's log line
/// says what it wrote: by default (a checkpoint at most every 5 s) a short
/// run writes the model and the checkpoint once, at its last epoch;
/// `--save-every 10` adds the model every 10 epochs; `--checkpoint-seconds
/// 0` writes both after every epoch, as runs did before the cadence.
#[test]
fn a_short_run_writes_its_files_at_the_end_unless_asked_more_often() {
    let dir = scratch().join("cadence");
    std::fs::create_dir_all(&dir).unwrap();
    let iris = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv");
    let wrote = |extra: &[&str]| -> Vec<(u64, Vec<String>)> {
        let _ = std::fs::remove_file(dir.join("l.jsonl"));
        let args = ["train", "--target", "species", "--epochs", "30", "--log", "l.jsonl", "--quiet", "--data"];
        ok(bin(&dir).args(args).arg(&iris).args(extra));
        let lines = log_lines(&dir.join("l.jsonl"));
        let files = |l: &serde_json::Map<String, serde_json::Value>| -> Vec<String> {
            l["wrote"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
        };
        lines
            .iter()
            .filter(|l| l.contains_key("train_loss"))
            .map(|l| (l["epoch"].as_u64().unwrap(), files(l)))
            .collect()
    };
    let both = vec!["model".to_string(), "checkpoint".to_string()];
    let written = |w: &[(u64, Vec<String>)], file: &str| -> Vec<u64> {
        w.iter().filter(|(_, f)| f.iter().any(|x| x == file)).map(|(e, _)| *e).collect()
    };
    let default = wrote(&[]);
    assert_eq!(default.len(), 30);
    assert_eq!(written(&default, "model"), [30], "{default:?}");
    assert_eq!(written(&default, "checkpoint"), [30], "{default:?}");
    let every = wrote(&["--save-every", "10"]);
    assert_eq!((written(&every, "model"), written(&every, "checkpoint")), (vec![10, 20, 30], vec![30]));
    let always = wrote(&["--checkpoint-seconds", "0"]);
    assert!(always.iter().all(|(_, f)| *f == both), "{always:?}");
}
