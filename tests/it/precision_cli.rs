//! `--precision` on the command line: `train` says in its summary how the
//! bf16 products run, its model differs from fp32's but scores alike, a
//! resumed run keeps its precision, `eval`, `predict` and `bench` take the
//! flag, and an unknown precision is a usage error.

use crate::common::{self, cli};
use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// `eval --json`'s accuracy.
fn accuracy(dir: &Path, model: &str, precision: &str) -> f64 {
    let test = "data/mnist10k/test-images-idx3-ubyte.gz";
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join(test);
    let data = data.to_str().unwrap();
    let o = run(dir, &["eval", "--model", model, "--data", data, "--precision", precision, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accuracy"].as_f64().unwrap()
}

#[test]
fn bf16_trains_evaluates_and_predicts_from_the_command_line() {
    let dir = common::scratch("precision-cli");
    let train = |precision: &str, out: &str| {
        let args = ["train", "--epochs", "2", "--hidden", "64", "--precision", precision, "--out", out];
        run(&dir, &args)
    };
    let o = train("bf16", "bf16.safetensors");
    let summary = String::from_utf8_lossy(&o.stderr);
    let mode = backprop::kernels::gemm::Mode::of(backprop::Precision::Bf16);
    let said = if mode.native_bf16() { "products in bf16 (AVX512-BF16)" } else { "products in bf16 emulated" };
    assert!(summary.contains(said), "{summary}");
    train("fp32", "fp32.safetensors");
    let (b, f) =
        (std::fs::read(dir.join("bf16.safetensors")).unwrap(), std::fs::read(dir.join("fp32.safetensors")).unwrap());
    assert!(b != f, "bf16 trained fp32's model");
    let (acc16, acc32) = (accuracy(&dir, "bf16.safetensors", "bf16"), accuracy(&dir, "fp32.safetensors", "fp32"));
    assert!((acc16 - acc32).abs() <= 0.01, "bf16 {acc16}, fp32 {acc32}");
    // An fp32 model evaluated in bf16 scores about the same.
    assert!((accuracy(&dir, "fp32.safetensors", "bf16") - acc32).abs() <= 0.01);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/test-images-idx3-ubyte.gz");
    let data = data.to_str().unwrap();
    for p in ["fp32", "bf16"] {
        let out = format!("pred-{p}.csv");
        run(&dir, &["predict", "--model", "bf16.safetensors", "--data", data, "--precision", p, "--out", &out]);
    }
    let (p16, p32) =
        (std::fs::read(dir.join("pred-bf16.csv")).unwrap(), std::fs::read(dir.join("pred-fp32.csv")).unwrap());
    assert!(p16 != p32, "predict --precision bf16 wrote fp32's probabilities");
    let o = run(
        &dir,
        &["bench", "--layers", "20,32,4", "--batch-size", "8", "--seconds", "0.05", "--precision", "bf16", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["precision"], "bf16");
}

#[test]
fn a_resumed_run_keeps_its_precision_and_unknown_ones_are_usage_errors() {
    let dir = common::scratch("precision-resume");
    let args = [
        "train",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--precision",
        "bf16",
        "--keep-checkpoint",
        "--out",
        "m.safetensors",
    ];
    run(&dir, &args);
    cli::fails(
        &dir,
        &["train", "--resume", "m.safetensors.ckpt", "--epochs", "2", "--precision", "fp32"],
        false,
        2,
        &["--precision", "would change the run being resumed"],
    );
    run(&dir, &["train", "--resume", "m.safetensors.ckpt", "--epochs", "2", "--quiet"]);
    cli::clap_fails(&dir, &["train", "--precision", "fp16"], false, &["invalid value 'fp16' for '--precision"]);
    cli::clap_fails(
        &dir,
        &["eval", "--model", "m.safetensors", "--data", "x.csv", "--precision", "half"],
        false,
        &["invalid value 'half'"],
    );
}
