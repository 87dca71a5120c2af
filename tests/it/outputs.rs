//! Nothing the user had is lost: an output that is an input (or another
//! output) is refused before any work, under any name for the same file;
//! outputs that cannot be written are found before the first step; a closed
//! stdout ends the program quietly; concurrent atomic writes of one path
//! never tear or clash; a resumed run removes only dead writers' temporary
//! files; `predict` reads its data once.

use crate::common;

use crate::common::cli::{fails, fails_with, write, SENTINEL};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn scratch() -> PathBuf {
    common::scratch("outputs")
}

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backprop"));
    c.current_dir(dir);
    c
}

const DATA: &[u8] = b"0.1,0.2,0\n0.3,0.4,1\n0.5,0.1,0\n0.9,0.8,1\n";

/// `backprop args…` must fail with a usage error naming both flags, and
/// leave `victim` (holding SENTINEL) as it was.
fn refused(dir: &Path, args: &[&str], victim: &str, flags: &[&str]) {
    std::fs::write(dir.join(victim), SENTINEL).unwrap();
    let mut cmd = bin(dir);
    cmd.args(args);
    fails_with(cmd, dir, &dir.join(victim), 2, flags);
}

#[test]
fn an_output_that_is_an_input_is_refused() {
    let d = scratch();
    // The data file as --out, --checkpoint or --log, under its own name,
    // through `..`, and through links.
    std::fs::create_dir(d.join("sub")).unwrap();
    for out in ["d.csv", "sub/../d.csv", "./d.csv"] {
        refused(&d, &["train", "--data", "d.csv", "--out", out], "d.csv", &["--out", "--data", "same file"]);
    }
    refused(&d, &["train", "--data", "d.csv", "--checkpoint", "d.csv"], "d.csv", &["--checkpoint", "--data"]);
    refused(&d, &["train", "--data", "d.csv", "--log", "d.csv"], "d.csv", &["--log", "--data"]);
    std::fs::write(d.join("t.csv"), SENTINEL).unwrap();
    refused(&d, &["train", "--data", "t.csv", "--test", "d.csv", "--out", "d.csv"], "d.csv", &["--out", "--test"]);
    #[cfg(unix)]
    {
        std::fs::write(d.join("d.csv"), SENTINEL).unwrap();
        std::os::unix::fs::symlink(d.join("d.csv"), d.join("link.csv")).unwrap();
        std::fs::hard_link(d.join("d.csv"), d.join("hard.csv")).unwrap();
        refused(&d, &["train", "--data", "d.csv", "--out", "link.csv"], "d.csv", &["--out", "--data"]);
        refused(&d, &["train", "--data", "hard.csv", "--out", "d.csv"], "d.csv", &["--out", "--data"]);
    }
    // Two outputs on one file.
    std::fs::write(d.join("d.csv"), DATA).unwrap();
    refused(&d, &["train", "--data", "d.csv", "--out", "m.st", "--log", "m.st"], "m.st", &["--log", "--out"]);
    // predict: --out as the data or the model.
    let model = d.join("m.safetensors");
    let o = bin(&d).args(["train", "--data", "d.csv", "--epochs", "1", "--quiet", "--out"]).arg(&model).output();
    assert!(o.unwrap().status.success());
    let m = std::fs::read(&model).unwrap();
    std::fs::write(d.join("x.csv"), SENTINEL).unwrap();
    refused(&d, &["predict", "--model", "m.safetensors", "--data", "x.csv", "--out", "x.csv"], "x.csv", &["--data"]);
    let o = bin(&d).args(["predict", "--model", "m.safetensors", "--data", "d.csv", "--out", "m.safetensors"]).output();
    assert_eq!(o.unwrap().status.code(), Some(2));
    assert_eq!(std::fs::read(&model).unwrap(), m, "the model was overwritten");
    // --init is an input too.
    let o = bin(&d).args(["train", "--data", "d.csv", "--init", "m.safetensors", "--out", "m.safetensors"]).output();
    assert_eq!(o.unwrap().status.code(), Some(2));
    assert_eq!(std::fs::read(&model).unwrap(), m, "the --init model was overwritten");
}

#[test]
fn unwritable_outputs_are_found_before_training() {
    let d = scratch();
    write(&d, "d.csv", DATA);
    std::fs::create_dir(d.join("logs")).unwrap();
    // A folder as --log: refused before the first step, so the existing
    // --out is not replaced and no checkpoint is written.
    fails(&d, &["train", "--data", "d.csv", "--log", "logs"], true, 1, &["logs"]);
    assert!(!d.join("existing.out.ckpt").exists(), "a checkpoint was written");
    fails(&d, &["train", "--data", "d.csv", "--checkpoint", "logs"], true, 1, &["--checkpoint", "logs"]);
    fails(&d, &["train", "--data", "d.csv", "--checkpoint", "no/such/dir/c.ckpt"], true, 1, &["no/such/dir"]);
    assert!(!d.join("existing.out.ckpt").exists());
}

/// Gives the child a stdout pipe that is closed after one line (when
/// `read_first`) or before the child starts, and expects a quiet exit with
/// status 141 (what a shell reports for SIGPIPE).
fn quiet_on_closed_pipe(mut cmd: Command, read_first: bool) {
    let child = if read_first {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(!line.is_empty());
        child
    } else {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        cmd.stdout(writer).stderr(Stdio::piped()).spawn().unwrap()
    };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "{cmd:?}: {err}");
    // Nothing but the start-of-run summary of `train`.
    let summary = ["data: ", "held out: ", "network: ", "scaling: "];
    let other: Vec<&str> = err.lines().filter(|l| !summary.iter().any(|s| l.starts_with(s))).collect();
    assert!(other.is_empty(), "{cmd:?}: {err}");
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    let d = scratch();
    write(&d, "d.csv", DATA);
    let mut train = bin(&d);
    // The model saved after each epoch: the run ends at its first line.
    train.args(["train", "--data", "d.csv", "--epochs", "400", "--out", "m.safetensors", "--checkpoint-seconds", "0"]);
    quiet_on_closed_pipe(train, true);
    let mut eval = bin(&d);
    eval.args(["eval", "--model", "m.safetensors", "--data", "d.csv"]);
    quiet_on_closed_pipe(eval, false);
    let mut predict = bin(&d);
    predict.args(["predict", "--model", "m.safetensors", "--data", "d.csv"]);
    quiet_on_closed_pipe(predict, false);
    let mut bench = bin(&d);
    bench.args(["bench", "--layers", "4,8,2", "--batch-size", "4", "--threads", "1,1,1", "--seconds", "0.05"]);
    quiet_on_closed_pipe(bench, true);
}

/// Two threads saving different models to one path, over and over: every
/// save succeeds, the file is always one whole model, and no temporary file
/// is left (the temporary name used to be per process, so the two writers
/// shared and renamed each other's files).
#[test]
fn concurrent_atomic_writes_of_one_path_never_clash() {
    let d = scratch();
    let path = d.join("m.safetensors");
    let models: Vec<backprop::Mlp> = (0..2)
        .map(|s| backprop::Mlp::builder().input(30).hidden(40).head(backprop::Head::Softmax, 3).seed(s).build())
        .collect::<Result<_, _>>()
        .unwrap();
    let (models, path) = (&models, &path);
    std::thread::scope(|s| {
        for m in models {
            s.spawn(move || {
                for _ in 0..150 {
                    m.save(path).unwrap();
                    let back = backprop::Mlp::load(path).unwrap();
                    assert!(models.contains(&back), "a torn or foreign file");
                }
            });
        }
    });
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.safetensors")], "left behind: {names:?}");
}

/// Only temporary files of writers that are gone are removed; a live
/// writer's (this process's, or another running process's) stays.
#[test]
fn only_dead_writers_temporary_files_are_removed() {
    let d = scratch();
    let target = d.join("m.safetensors");
    let me = std::process::id();
    let names = [format!(".m.safetensors.tmp-{me}-live"), ".m.safetensors.tmp-1-init".into()];
    let dead = ".m.safetensors.tmp-4000000000-gone".to_string();
    for n in names.iter().chain([&dead]) {
        std::fs::write(d.join(n), b"partial").unwrap();
    }
    backprop::model::remove_dead_temps(&target);
    for n in &names {
        assert!(d.join(n).exists(), "{n} was removed");
    }
    assert!(!d.join(&dead).exists() || !cfg!(target_os = "linux"), "{dead} stayed");
}

/// `predict` reads its data once: a named pipe can only be read once, and
/// choosing the target count used to read the file a first time.
#[cfg(unix)]
#[test]
fn predict_reads_its_data_once() {
    let d = scratch();
    write(&d, "d.csv", DATA);
    let model = d.join("m.safetensors");
    let o = bin(&d).args(["train", "--data", "d.csv", "--epochs", "1", "--quiet", "--out"]).arg(&model).output();
    assert!(o.unwrap().status.success());
    let fifo = d.join("rows.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, b"0.1,0.2\n0.7,0.9\n").unwrap())
    };
    let o = bin(&d).args(["predict", "--model", "m.safetensors", "--data"]).arg(&fifo).output().unwrap();
    writer.join().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(text.lines().count(), 3, "a header and two rows: {text}");
}

/// An output that is a character device or a FIFO is written through, as
/// `cp` and `tee` do, and stays what it is: a device node as `--out` and
/// `--checkpoint` (the run's finished checkpoint is not removed either),
/// a FIFO as `predict --out`, whose reader gets the CSV. `predict --out -`
/// writes to standard output and creates no file named `-`.
#[cfg(unix)]
#[test]
fn devices_and_fifos_are_written_through_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let d = scratch().join("special");
    std::fs::create_dir_all(&d).unwrap();
    write(&d, "data.csv", DATA);
    let train = |out: &str, checkpoint: &str| {
        let o = bin(&d)
            .args(["train", "--data", "data.csv", "--epochs", "2", "--quiet", "--out", out, "--checkpoint", checkpoint])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    train("m.safetensors", "m.ckpt");
    // A character device of our own (the null device's numbers), so that a
    // regression replaces this node, not the system's /dev/null. Making one
    // needs root, which CI has.
    let null = d.join("null");
    let _ = std::fs::remove_file(&null);
    if Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().is_ok_and(|s| s.success()) {
        train("null", "null");
        let kind = std::fs::symlink_metadata(&null).unwrap().file_type();
        assert!(kind.is_char_device(), "--out and --checkpoint replaced the device node: {kind:?}");
    } else {
        eprintln!("mknod needs root: the device-node case was not run");
    }
    let fifo = d.join("p.fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let f = fifo.clone();
        std::thread::spawn(move || std::fs::read(f).unwrap())
    };
    let predict = |out: &str| {
        bin(&d).args(["predict", "--model", "m.safetensors", "--data", "data.csv", "--out", out]).output().unwrap()
    };
    let o = predict("p.fifo");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let through = reader.join().unwrap();
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    let o = predict("-");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("-").exists(), "a file named - was made");
    assert!(o.stdout.starts_with(b"class,"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(through, o.stdout, "the FIFO's reader and standard output got different CSV");
}
