//! Running the `backprop` binary in tests: a failing command's exit code,
//! its one-line message, and that it left the files alone; small input
//! files.

use std::io::Write;
use std::path::Path;
use std::process::Command;

pub const SENTINEL: &[u8] = b"an existing output that must survive";

/// `backprop args…` in `dir`, with `--out` pointing at an existing file
/// holding [`SENTINEL`] (when `out_flag`); and that file.
fn prepared(dir: &Path, args: &[&str], out_flag: bool) -> (Command, std::path::PathBuf) {
    let out = dir.join("existing.out");
    std::fs::write(&out, SENTINEL).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backprop"));
    cmd.args(args).current_dir(dir);
    if out_flag {
        cmd.arg("--out").arg(&out);
    }
    (cmd, out)
}

/// Runs `backprop args…` with `--out` pointing at an existing file (when
/// `out_flag`), and checks the exit code, that stderr is one `error:` line
/// (or clap's whole message for an error of the flags) containing every
/// `needle`, and that the output file is unchanged.
pub fn fails(dir: &Path, args: &[&str], out_flag: bool, code: i32, needles: &[&str]) {
    let (cmd, out) = prepared(dir, args, out_flag);
    fails_with(cmd, dir, &out, code, needles)
}

/// As [`fails`] for an error the flags' parser (clap) finds: exit code 2
/// and clap's whole message, its `error:` line first, then its tip and
/// the pointer to `--help`; every `needle` in it.
pub fn clap_fails(dir: &Path, args: &[&str], out_flag: bool, needles: &[&str]) {
    let (cmd, out) = prepared(dir, args, out_flag);
    let mut all = needles.to_vec();
    all.push(CLAP_TAIL);
    fails_with(cmd, dir, &out, 2, &all)
}

/// The last line of clap's messages.
const CLAP_TAIL: &str = "For more information, try '--help'.";

/// As [`fails`] for a command already set up; `out` is a file that must be
/// left as it was (holding [`SENTINEL`]).
pub fn fails_with(mut cmd: Command, dir: &Path, out: &Path, code: i32, needles: &[&str]) {
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let o = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: exit code; stderr: {err}");
    // One line, but for an error of the flags' parser, which is clap's whole
    // message (see `clap_fails`).
    if !err.contains(CLAP_TAIL) {
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    }
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(std::fs::read(out).unwrap(), SENTINEL, "{args:?}: --out was touched");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{args:?}: left temporary files {leftovers:?}");
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    std::fs::write(dir.join(name), bytes).unwrap();
    name.to_string()
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// IDX images: magic, count, rows, cols, then pixels.
pub fn idx_images(count: u32, side: u32, pixels: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [count, side, side] {
        v.extend(d.to_be_bytes());
    }
    v.extend((0..pixels).map(|i| (i * 7 % 256) as u8));
    v
}

pub fn idx_labels(count: u32, labels: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend(count.to_be_bytes());
    v.extend((0..labels).map(|i| (i % 3) as u8));
    v
}

/// One JSON object per line of a `train --log` file (none when it is
/// missing).
pub fn log_lines(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
}

/// The log's epoch lines without what differs from run to run: the timing
/// fields and the run's id (the lines where a run starts or resumes, with
/// their timestamps, are left out). Every epoch line must have all three.
pub fn epoch_lines(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    without_run_fields(log_lines(path))
}

/// As [`epoch_lines`], for the lines of the log's last run alone (those
/// with the run id of its last line): a log another run was started into
/// holds that run's lines too.
pub fn last_run_epoch_lines(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut lines = log_lines(path);
    let last = lines.last().and_then(|l| l.get("run")).cloned();
    lines.retain(|l| l.get("run") == last.as_ref());
    without_run_fields(lines)
}

fn without_run_fields(
    mut lines: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    lines.retain(|l| !l.contains_key("started") && !l.contains_key("resumed"));
    for l in &mut lines {
        // The run's own: its timing, its id, and the files written (the
        // checkpoints' cadence is in seconds).
        for key in ["samples_per_sec", "elapsed_sec", "run", "wrote"] {
            assert!(l.remove(key).is_some(), "{key} missing: {l:?}");
        }
    }
    lines
}
