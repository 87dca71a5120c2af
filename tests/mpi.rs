//! `mpirun -np P backprop train` (the `mpi` feature): with the same flags as
//! one process, byte-identical models for P = 1 to 4 and any cut, a rank
//! killed mid-run, a resume on another P, and the failures that must end
//! every rank with one error line instead of a hang.
//! Needs Open MPI's `mpirun` on the PATH (.ci/run installs it).

#[path = "it/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_backprop")
}

/// `mpirun` for `ranks` ranks on this machine, allowed to run as root (CI
/// does) and to put more ranks than cores.
fn mpirun(ranks: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "--bind-to", "none", "-np", &ranks.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .stdin(Stdio::null());
    c
}

/// Waits for `child` at most `limit`; kills it and fails the test if it
/// has not ended by then (a hang).
fn finish(mut child: Child, limit: Duration, what: &str) -> Output {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{what}: still running after {limit:?}");
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    finish(child, Duration::from_secs(300), what)
}

fn ok(cmd: &mut Command, what: &str) -> Output {
    let out = run(cmd, what);
    assert!(out.status.success(), "{what} failed: {}{}", text(&out.stderr), text(&out.stdout));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The bundled digits, a tenth held out, three epochs of batches of 150
/// rows, Adam, two hidden layers, one thread, as a new user writes it: no
/// `--shard-rows`.
fn train_args(dir: &Path, epochs: usize) -> Vec<String> {
    shard_args(dir, epochs, None)
}

/// [`train_args`], with `--shard-rows` when given.
fn shard_args(dir: &Path, epochs: usize, shard_rows: Option<usize>) -> Vec<String> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/train-images-idx3-ubyte.gz");
    let mut a: Vec<String> = ["train", "--data"].iter().map(|s| s.to_string()).collect();
    a.push(data.display().to_string());
    for s in ["--val-split", "0.1", "--hidden", "48,24", "--optimizer", "adam", "--batch-size", "150"] {
        a.push(s.into());
    }
    if let Some(r) = shard_rows {
        a.extend(["--shard-rows".to_string(), r.to_string()]);
    }
    for s in ["--threads", "1", "--quiet", "--epochs", &epochs.to_string()] {
        a.push(s.into());
    }
    a.push("--out".into());
    a.push(dir.join("model.safetensors").display().to_string());
    a
}

fn model(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.safetensors")).unwrap()
}

/// The model one process without MPI trains.
fn single_process_model(epochs: usize) -> Vec<u8> {
    let dir = common::scratch("mpi-single");
    ok(Command::new(bin()).args(train_args(&dir, epochs)), "single process");
    model(&dir)
}

/// The same flags on 1 to 4 ranks, and on 2 ranks with shards of 7 and of
/// 150 rows, give the model one process trains, byte for byte. (7,200
/// training rows in batches of 150: 48 batches a epoch, each cut in
/// ranks of 37 or 38 rows on 4 ranks.)
#[test]
fn one_to_four_ranks_train_the_single_process_model_byte_for_byte() {
    let want = single_process_model(3);
    let runs = (1..=4).map(|r| (r, None)).chain([(2, Some(7)), (2, Some(150))]);
    for (ranks, shard_rows) in runs {
        let dir = common::scratch("mpi-ranks");
        let what = format!("{ranks} ranks, shard rows {shard_rows:?}");
        ok(mpirun(ranks).arg(bin()).args(shard_args(&dir, 3, shard_rows)), &what);
        assert!(model(&dir) == want, "{what}: the model differs from the single process's");
        let others: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        // The checkpoint, written by rank 0 alone, is removed at the end.
        assert_eq!(others.len(), 1, "rank 0 alone writes the model: {others:?}");
    }
}

/// `--precision bf16` too: its ranks' rows start at even rows (4 ranks cut
/// a batch of 150 at 36, 74 and 112), and 1, 3 and 4 ranks give the model
/// one process trains in bf16, byte for byte, which is not fp32's.
#[test]
fn bf16_ranks_train_the_single_process_bf16_model_byte_for_byte() {
    let bf16 = |dir: &Path| {
        let mut a = train_args(dir, 2);
        a.extend(["--precision".to_string(), "bf16".to_string()]);
        a
    };
    let single = common::scratch("mpi-bf16-single");
    ok(Command::new(bin()).args(bf16(&single)), "single process, bf16");
    let want = model(&single);
    let fp32 = common::scratch("mpi-fp32-single");
    ok(Command::new(bin()).args(train_args(&fp32, 2)), "single process, fp32");
    assert!(model(&fp32) != want, "bf16 trained fp32's model");
    for ranks in [1, 3, 4] {
        let dir = common::scratch("mpi-bf16-ranks");
        let what = format!("{ranks} ranks in bf16");
        ok(mpirun(ranks).arg(bin()).args(bf16(&dir)), &what);
        assert!(model(&dir) == want, "{what}: the model differs from the single process's");
    }
}

/// The pids of `mpirun`'s rank processes (its children running `bin()`).
fn ranks_of(mpirun: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
        if ppid == Some(mpirun) && stat.contains("(backprop)") {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_rank_ends_the_job_and_the_checkpoint_resumes_on_another_number_of_ranks() {
    let epochs = 12;
    let want = single_process_model(epochs);
    let dir = common::scratch("mpi-kill");
    let mut args = train_args(&dir, epochs);
    args.extend(["--checkpoint-every".to_string(), "50".to_string()]);
    let mut cmd = mpirun(3);
    let child = cmd.arg(bin()).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let ckpt = dir.join("model.safetensors.ckpt");
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint after 2 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    let victims = ranks_of(child.id());
    assert_eq!(victims.len(), 3, "3 rank processes under mpirun");
    let killed = Instant::now();
    assert!(Command::new("kill").args(["-KILL", &victims[1].to_string()]).status().unwrap().success());
    let out = finish(child, Duration::from_secs(30), "mpirun after a rank was killed");
    assert!(!out.status.success(), "the job ended with success although a rank was killed");
    assert!(killed.elapsed() < Duration::from_secs(30));
    // The last good checkpoint resumes on 2 ranks to the single process's model.
    let mut resume = mpirun(2);
    resume.arg(bin()).args(["train", "--quiet", "--threads", "1", "--resume"]).arg(&ckpt);
    ok(&mut resume, "resume on 2 ranks");
    assert!(model(&dir) == want, "killed on 3 ranks and resumed on 2: the model differs from one process's");
}

/// Runs a failing launch; checks that it ended within a minute, non-zero,
/// with one `error:` line per rank naming `rank`, saying `cause`, and wrote
/// no model.
fn fails(cmd: &mut Command, ranks: usize, rank: usize, cause: &str, dir: &Path) {
    let out = run(cmd, cause);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{cause}: ended with success");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), ranks, "{cause}: one error line per rank, got {err}");
    for l in &lines {
        assert!(l.starts_with(&format!("error: rank {rank}: ")) && l.contains(cause), "{cause}: {l}");
    }
    assert!(!dir.join("model.safetensors").exists(), "{cause}: a model was written");
}

/// A small CSV run (`dir/d.csv`), for the failure cases.
fn csv_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--data", "d.csv", "--epochs", "1", "--batch-size", "8", "--shard-rows", "4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["--out".to_string(), dir.join("model.safetensors").display().to_string()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn write_csv(path: &Path, rows: usize, shift: f32) {
    let body: String =
        (0..rows).map(|r| format!("{},{},{}\n", r as f32 * 0.1 + shift, 1.0 - r as f32 * 0.05, r % 2)).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// Two ranks started from two folders (`-wdir`), each reading its own
/// `d.csv` under the same flags.
fn two_folders(a: &Path, b: &Path, args: &[String], args_b: &[String]) -> Command {
    let mut c = mpirun(1);
    c.arg("-wdir").arg(a).arg(bin()).args(args).args([":", "-np", "1", "-wdir"]).arg(b).arg(bin()).args(args_b);
    c
}

#[test]
fn failures_end_every_rank_with_one_error_line_and_no_file() {
    let root = common::scratch("mpi-fail");
    let (a, b) = (root.join("a"), root.join("b"));
    write_csv(&a.join("d.csv"), 40, 0.0);
    write_csv(&b.join("d.csv"), 40, 0.5);
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();

    let args = csv_args(&out, &[]);
    let differ = "the data files (size or contents): differ from rank 0's";
    fails(&mut two_folders(&a, &b, &args, &args), 2, 1, differ, &out);

    let other_seed = csv_args(&out, &["--seed", "7"]);
    fails(&mut two_folders(&a, &a, &args, &other_seed), 2, 1, "the settings (flags): differ from rank 0's", &out);

    std::fs::remove_file(b.join("d.csv")).unwrap();
    fails(&mut two_folders(&a, &b, &args, &args), 2, 1, "d.csv: No such file", &out);
}
