//! Stopping and continuing runs: SIGINT and SIGTERM stop at a step boundary
//! with a checkpoint and print the command that continues the run, which
//! then ends byte-identical to an uninterrupted run; a second Ctrl-C ends
//! the process at once; `--resume --epochs N` lengthens a finished run
//! (refused for cosine); the checkpoint is removed after a run unless
//! `--keep-checkpoint`; the log's first line holds the settings, a run id
//! and a timestamp.

#![cfg(unix)]

use crate::common;

use crate::common::cli::{epoch_lines, log_lines};

use serde_json::{Map, Value};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_backprop");

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn ok(c: &mut Command) -> Output {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Waits until the log at `path` has a line for which `ready` holds.
fn wait_for_log(child: &mut Child, path: &Path, ready: impl Fn(&Map<String, Value>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !log_lines(path).iter().any(&ready) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the log had the line");
        assert!(Instant::now() < deadline, "no such log line after 2 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (`INT`, `TERM`) to the process.
fn signal(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
}

/// Digits through two wide layers, slow enough to be stopped mid-run.
fn digits_args(out: &str) -> Vec<String> {
    let a = "train --hidden 1024,1024 --epochs 3 --batch-size 32 --optimizer adam --lr-schedule step --step-size 100 \
             --gamma 0.5 --warmup-steps 20 --quiet";
    let mut v: Vec<String> = a.split_whitespace().map(String::from).collect();
    v.extend(["--out".into(), out.into(), "--log".into(), format!("{out}.log")]);
    v
}

#[test]
fn a_signal_stops_the_run_with_a_checkpoint_and_the_printed_command_finishes_it() {
    let dir = common::scratch("interrupt");
    let t0 = Instant::now();
    ok(bin(&dir).args(digits_args("ref.safetensors")).args(["--threads", "2"]));
    let half_epoch = t0.elapsed() / 6;
    let reference = std::fs::read(dir.join("ref.safetensors")).unwrap();
    let ref_log = epoch_lines(&dir.join("ref.safetensors.log"));
    assert!(!dir.join("ref.safetensors.ckpt").exists(), "the checkpoint of a finished run is removed");

    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let out = format!("{sig}.safetensors");
        let (log, ckpt) = (dir.join(format!("{out}.log")), dir.join(format!("{out}.ckpt")));
        let mut child = bin(&dir).args(digits_args(&out)).args(["--threads", "2"]).spawn().unwrap();
        wait_for_log(&mut child, &log, |l| l.get("epoch") == Some(&Value::from(1)) && !l.contains_key("started"));
        // Into the second epoch, most likely (the stop is exact anywhere).
        std::thread::sleep(half_epoch);
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{sig}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "the report alone, even with --quiet: {err}");
        assert!(lines[0].starts_with(&format!("SIG{sig}: stopped after ")), "{err}");
        assert!(lines[0].contains(&format!("{} holds the run", ckpt.display())), "{err}");
        let command: Vec<&str> = lines[1].split_whitespace().collect();
        let want = [BIN, "train", "--resume", &ckpt.to_string_lossy()];
        assert_eq!(command, want, "the command to continue: {err}");
        assert!(ckpt.exists(), "no checkpoint");

        // The printed command, as printed, ends with the uninterrupted model.
        let o = ok(bin(&dir).args(&command[1..]));
        assert!(std::fs::read(dir.join(&out)).unwrap() == reference, "SIG{sig}: the model differs");
        assert!(!ckpt.exists(), "SIG{sig}: the checkpoint stayed after the run ended");
        assert!(String::from_utf8_lossy(&o.stdout).contains("saved"));
        assert_eq!(epoch_lines(&log), ref_log, "SIG{sig}: the log's epoch lines");
        // The log: the start with the settings, the resume where the stop
        // was, every line of the one run.
        let all = log_lines(&log);
        let first = &all[0];
        assert!(first["settings"]["epochs"] == 3 && first["settings"]["hidden"] == serde_json::json!([1024, 1024]));
        assert_eq!(first["layers"], serde_json::json!([784, 1024, 1024, 10]));
        let started = first["started"].as_str().unwrap();
        assert!(started.len() == 20 && started.ends_with('Z') && started.as_bytes()[10] == b'T', "{started}");
        let resumed: Vec<&Map<String, Value>> = all.iter().filter(|l| l.contains_key("resumed")).collect();
        assert_eq!(resumed.len(), 1, "{all:?}");
        let step = lines[0].split("(step ").nth(1).and_then(|s| s.split(')').next()).unwrap();
        assert_eq!(resumed[0]["step"].as_u64(), Some(step.parse::<u64>().unwrap() + 1), "{err}");
        assert!(all.iter().all(|l| l["run"] == first["run"]), "one run id: {all:?}");
    }
}

#[test]
fn a_second_ctrl_c_ends_the_run_at_once() {
    let dir = common::scratch("interrupt-twice");
    // One step per epoch, of half a second or more on one thread: both
    // signals land within the second epoch's.
    let args = "train --hidden 2048 --epochs 50 --batch-size 8000 --threads 1 --quiet --log l.jsonl";
    let mut child = bin(&dir).args(args.split_whitespace()).spawn().unwrap();
    wait_for_log(&mut child, &dir.join("l.jsonl"), |l| l.get("epoch") == Some(&Value::from(1)));
    std::thread::sleep(Duration::from_millis(100));
    // 50 ms apart, as a person's two presses are at the least (two signals
    // sent at once can merge into one).
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, "INT");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.signal(), Some(2), "ended by SIGINT's default action: {:?} {err}", o.status);
    assert!(!err.contains("continue it with"), "{err}");
}

/// A CSV of 300 rows, 12 features, 3 classes.
fn write_data(dir: &Path) {
    let mut rng = backprop::rng::Rng::new(5);
    let mut s = String::new();
    for _ in 0..300 {
        let x: Vec<f32> = (0..12).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let class = (x[0] > 0.0) as u8 + (x[1] > 0.5) as u8;
        s += &format!("{},{class}\n", x.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
    }
    std::fs::write(dir.join("d.csv"), s).unwrap();
}

fn csv_args(out: &str, epochs: usize, schedule: &str) -> Vec<String> {
    let a = format!(
        "train --data d.csv --hidden 32,16 --batch-size 20 --optimizer adam --lr 0.01 --warmup-steps 7 \
         --val-split 0.2 --quiet --lr-schedule {schedule} --epochs {epochs} --out {out} --log {out}.log"
    );
    let mut v: Vec<String> = a.split_whitespace().map(String::from).collect();
    if schedule == "step" {
        v.extend(["--step-size".into(), "9".into()]);
    }
    v
}

fn usage_error(o: Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

#[test]
fn more_epochs_continue_a_kept_checkpoint_to_the_longer_runs_model() {
    let dir = common::scratch("extend");
    write_data(&dir);
    ok(bin(&dir).args(csv_args("five.safetensors", 5, "step")));
    assert!(!dir.join("five.safetensors.ckpt").exists(), "removed without --keep-checkpoint");
    let o = ok(bin(&dir).args(csv_args("two.safetensors", 2, "step")).arg("--keep-checkpoint"));
    let ckpt: PathBuf = dir.join("two.safetensors.ckpt");
    assert!(ckpt.exists(), "--keep-checkpoint");
    drop(o);

    let resume = |extra: &[&str]| {
        bin(&dir).args(["train", "--quiet", "--resume", "two.safetensors.ckpt"]).args(extra).output().unwrap()
    };
    ok(bin(&dir).args(["train", "--quiet", "--resume", "two.safetensors.ckpt", "--epochs", "5"]));
    let (five, two) =
        (std::fs::read(dir.join("five.safetensors")).unwrap(), std::fs::read(dir.join("two.safetensors")).unwrap());
    assert!(two == five, "2 epochs then 3 more differ from 5 epochs");
    assert_eq!(epoch_lines(&dir.join("two.safetensors.log")), epoch_lines(&dir.join("five.safetensors.log")));
    assert!(ckpt.exists(), "--keep-checkpoint is kept by the resumed run");
    // Fewer epochs than trained, and the same again, are refused and a no-op.
    usage_error(resume(&["--epochs", "4"]), &["--epochs 4", "5 epochs"]);
    let o = resume(&["--epochs", "5"]);
    assert!(o.status.success() && std::fs::read(dir.join("two.safetensors")).unwrap() == five);

    // A cosine schedule decays over the total: no lengthening.
    ok(bin(&dir).args(csv_args("cos.safetensors", 2, "cosine")).arg("--keep-checkpoint"));
    let cos = std::fs::read(dir.join("cos.safetensors")).unwrap();
    let o = bin(&dir).args(["train", "--quiet", "--resume", "cos.safetensors.ckpt", "--epochs", "4"]).output().unwrap();
    usage_error(o, &["--epochs 4", "cosine"]);
    assert!(std::fs::read(dir.join("cos.safetensors")).unwrap() == cos, "a refused resume wrote the model");

    // Two runs appended to one log: each starts with its own line and id.
    let lines = log_lines(&dir.join("two.safetensors.log"));
    let o = ok(bin(&dir).args(csv_args("two.safetensors", 1, "step")));
    drop(o);
    let after = log_lines(&dir.join("two.safetensors.log"));
    let ids: Vec<&Value> = after.iter().filter(|l| l.contains_key("started")).map(|l| &l["run"]).collect();
    assert_eq!(ids.len(), 2, "{after:?}");
    assert_ne!(ids[0], ids[1], "two runs, one id");
    assert_eq!(after.len(), lines.len() + 2, "a start line and one epoch line appended");

    // A line torn by a kill (no newline): the next run cuts it and starts
    // on a line of its own.
    let log = dir.join("two.safetensors.log");
    let whole = std::fs::read(&log).unwrap();
    std::fs::write(&log, [&whole[..], b"{\"run\":\"torn\",\"epo"].concat()).unwrap();
    drop(ok(bin(&dir).args(csv_args("two.safetensors", 1, "step"))));
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.starts_with(&whole), "the whole lines before the torn one were kept");
    assert_eq!(log_lines(&log).len(), after.len() + 2, "the torn line cut, a start and an epoch line added");
}

#[test]
fn a_resume_refuses_no_standardize_on_a_standardised_run() {
    let dir = common::scratch("resume-scaling");
    write_data(&dir);
    ok(bin(&dir).args(csv_args("s.safetensors", 1, "constant")).arg("--keep-checkpoint"));
    let o = bin(&dir).args(["train", "--resume", "s.safetensors.ckpt", "--no-standardize"]).output().unwrap();
    usage_error(o, &["--standardize", "would change the run"]);
}
