//! Hostile sizes from the command line, files and the library's callers:
//! each is an error with a message, never an abort. The command-line cases
//! run under a 4 GiB address-space limit (`ulimit -v`), where an
//! allocation that does not fit fails instead of being overcommitted; every
//! one of them used to abort the process there.

use crate::common;

use crate::common::cli::{fails_with, idx_images, idx_labels, write, SENTINEL};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch() -> PathBuf {
    common::scratch("hostile")
}

/// `backprop args…` under a 4 GiB address-space limit, with `--out` at an
/// existing file when `out`.
fn limited(dir: &Path, args: &[&str], out: bool) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("ulimit -v 4194304 && exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_backprop"));
    cmd.args(args).current_dir(dir);
    if out {
        cmd.arg("--out").arg(dir.join("existing.out"));
    }
    cmd
}

/// Expects the limited command to fail with `code` and one `error:` line
/// holding every needle, leaving the existing output alone.
fn refused(dir: &Path, args: &[&str], code: i32, needles: &[&str]) {
    let out = dir.join("existing.out");
    std::fs::write(&out, SENTINEL).unwrap();
    fails_with(limited(dir, args, true), dir, &out, code, needles);
}

#[test]
fn sizes_too_large_for_memory_are_errors() {
    let d = scratch();
    write(&d, "d.csv", b"0.1,0.2,0\n0.3,0.4,1\n");
    // 784 × 10⁹ weights: the parameters cannot be allocated.
    refused(&d, &["train", "--hidden", "1000000000"], 1, &["parameters", "cannot allocate"]);
    refused(&d, &["train", "--data", "d.csv", "--hidden", "1000000000,1000000000"], 1, &["cannot allocate"]);
    // More threads than the limit the message names.
    refused(&d, &["train", "--data", "d.csv", "--threads", "100000"], 2, &["--threads", "at most 1024"]);
    let out = d.join("existing.out");
    fails_with(limited(&d, &["bench", "--threads", "1,100000"], false), &d, &out, 2, &["--threads", "at most 1024"]);
    refused(&d, &["train", "--data", "d.csv", "--batch-size", "100000000"], 2, &["--batch-size", "at most 1048576"]);
}

#[test]
fn labels_that_imply_billions_of_classes_are_errors() {
    let d = scratch();
    write(&d, "big.csv", b"0.1,0.2,0\n0.3,0.4,4000000000\n");
    refused(
        &d,
        &["train", "--data", "big.csv"],
        1,
        &["big.csv", "line 2, column 3", "4000000001 classes", "--classes"],
    );
    // Asked for explicitly, the one-hot targets do not fit: an error too.
    let args = ["train", "--data", "big.csv", "--classes", "4000000001"];
    refused(&d, &args, 1, &["one-hot targets", "cannot allocate"]);
}

#[test]
fn idx_files_declaring_no_or_huge_images_are_errors() {
    let d = scratch();
    // 0 images of 65535 × 65535 pixels: the size check used to pass at
    // count 0, and then a 4-billion-input network was built.
    write(&d, "zero-images-idx3-ubyte", &idx_images(0, 65535, 0));
    write(&d, "zero-labels-idx1-ubyte", &idx_labels(0, 0));
    refused(&d, &["train", "--data", "zero-images-idx3-ubyte"], 1, &["zero-images-idx3-ubyte", "0 images"]);
    write(&d, "one-images-idx3-ubyte", &idx_images(1, 65535, 0));
    write(&d, "one-labels-idx1-ubyte", &idx_labels(1, 1));
    refused(&d, &["train", "--data", "one-images-idx3-ubyte"], 1, &["one-images-idx3-ubyte", "truncated"]);
}

#[test]
fn zero_epochs_and_empty_data_are_refused() {
    let d = scratch();
    write(&d, "d.csv", b"0.1,0.2,0\n0.3,0.4,1\n");
    refused(&d, &["train", "--data", "d.csv", "--epochs", "0"], 2, &["--epochs", "at least 1"]);
    write(&d, "h.csv", b"a,b,c\n\n\n");
    refused(&d, &["train", "--data", "h.csv"], 1, &["h.csv", "no data rows"]);
    refused(&d, &["train", "--data", "d.csv", "--test", "h.csv"], 1, &["h.csv", "no data rows"]);
}

/// A batch larger than the data trains one batch of every row per epoch:
/// the same model as a batch of exactly the rows.
#[test]
fn a_batch_larger_than_the_data_is_the_whole_data() {
    let d = scratch();
    write(&d, "d.csv", b"0.1,0.2,0\n0.3,0.4,1\n0.5,0.1,0\n");
    let run = |batch: &str, out: &str| {
        let args = ["train", "--data", "d.csv", "--epochs", "3", "--quiet", "--batch-size", batch, "--out", out];
        let o = limited(&d, &args, false).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        crate::common::model_content(&d.join(out))
    };
    assert_eq!(run("1000000", "a.safetensors"), run("3", "b.safetensors"));
}

/// The library's own entry points refuse what does not fit with an error.
#[test]
fn the_library_refuses_what_does_not_fit() {
    use backprop::{Head, Mlp, TrainConfig, Trainer};
    let err = Mlp::builder().input(784).hidden(1_000_000_000).head(Head::Softmax, 10).build().unwrap_err();
    assert!(err.to_string().contains("cannot allocate"), "{err}");
    let err = Mlp::builder().input(usize::MAX / 2).hidden(4).head(Head::Softmax, 10).build().unwrap_err();
    assert!(err.to_string().contains("too many parameters"), "{err}");
    let mlp = Mlp::builder().input(4).hidden(4).head(Head::Softmax, 2).build().unwrap();
    let err = Trainer::new(mlp.clone(), TrainConfig { threads: 100_000, ..TrainConfig::default() }).unwrap_err();
    assert!(err.to_string().contains("at most 1024"), "{err}");
    let err = Trainer::new(mlp, TrainConfig { batch_size: usize::MAX, ..TrainConfig::default() }).unwrap_err();
    assert!(err.to_string().contains("batch size"), "{err}");
}
