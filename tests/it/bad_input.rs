//! Bad input never panics and never clobbers an output: each case exits 2
//! (usage) or 1 (anything else) with one line starting `error:` that names
//! the file, the row and column where they apply, and what was expected;
//! an existing --out file is left byte for byte as it was.

use crate::common;

use crate::common::cli::{clap_fails, fails, gz, idx_images, idx_labels, write};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch() -> PathBuf {
    common::scratch("bad")
}

#[test]
fn missing_and_empty_files() {
    let d = scratch();
    fails(&d, &["train", "--data", "nope.csv"], true, 1, &["nope.csv"]);
    let e = write(&d, "empty.csv", b"");
    fails(&d, &["train", "--data", &e], true, 1, &["empty.csv", "empty"]);
    let h = write(&d, "header.csv", b"a,b,label\n");
    fails(&d, &["train", "--data", &h], true, 1, &["header.csv", "no data rows"]);
    fails(&d, &["eval", "--model", "none.safetensors", "--data", &h], false, 1, &["none.safetensors"]);
}

#[test]
fn bad_csv_cells_and_rows() {
    let d = scratch();
    let cases: [(&str, &str, &[&str]); 6] = [
        ("ragged.csv", "1,2,0\n3,4,1\n5,1\n", &["ragged.csv", "line 3", "expected 3 columns", "got 2"]),
        (
            "word.csv",
            "x,y,t\n1,2,0\n3,abc,1\n",
            &["word.csv", "line 3, column 2 (\"y\")", "expected a number", "abc", "categorical"],
        ),
        (
            "nan.csv",
            "1,2,0\n3,NaN,1\n",
            &["nan.csv", "line 2, column 2", "\"NaN\"", "a missing value", "--missing auto"],
        ),
        ("inf.csv", "1,2,0\n3,4,1\n-inf,4,1\n", &["inf.csv", "line 3, column 1", "finite"]),
        ("blank.csv", "1,2,0\n3,,1\n", &["blank.csv", "line 2, column 2", "empty cell"]),
        ("one.csv", "1\n2\n", &["one.csv", "no features"]),
    ];
    for (name, text, needles) in cases {
        let f = write(&d, name, text.as_bytes());
        // A text feature is categorical in training: the cell is refused
        // by a model trained on numbers.
        let args = if name == "word.csv" {
            let numbers = write(&d, "numbers.csv", b"x,y,t\n1,2,0\n3,4,1\n");
            let ok = Command::new(env!("CARGO_BIN_EXE_backprop"))
                .args(["train", "--epochs", "1", "--quiet", "--data", &numbers, "--out", "n.safetensors"])
                .current_dir(&d)
                .output()
                .unwrap();
            assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
            vec!["eval", "--model", "n.safetensors", "--data", f.as_str()]
        } else {
            vec!["train", "--data", f.as_str()]
        };
        fails(&d, &args, name != "word.csv", 1, needles);
    }
}

#[test]
fn bad_targets_for_each_head() {
    let d = scratch();
    let neg = write(&d, "neg.csv", b"1,2,0\n3,4,-1\n");
    fails(&d, &["train", "--data", &neg], true, 1, &["neg.csv", "line 2, column 3", "class index"]);
    // Lines as an editor counts them: the header is line 1, blank lines
    // and CRLF ends count; the column by position and name.
    let crlf = write(&d, "crlf.csv", b"x,y,label\r\n\r\n1,2,0\r\n3,4,-1\r\n");
    fails(&d, &["train", "--data", &crlf], true, 1, &["crlf.csv: line 4, column 3 (\"label\")", "class index"]);
    let frac = write(&d, "frac.csv", b"1,2,0\n3,4,1.5\n5,6,1\n");
    fails(&d, &["train", "--data", &frac], true, 1, &["frac.csv", "line 2, column 3", "whole number", "--head linear"]);
    let big = write(&d, "big.csv", b"1,2,0\n3,4,1\n5,6,3\n");
    fails(
        &d,
        &["train", "--data", &big, "--classes", "3"],
        true,
        1,
        &["big.csv", "line 3, column 3", "class 3", "below the class count 3"],
    );
    let prob = write(&d, "prob.csv", b"1,2,0,1\n3,4,0.5,1.5\n");
    let args = ["train", "--data", &prob, "--head", "logistic", "--targets", "2"];
    fails(&d, &args, true, 1, &["prob.csv", "line 2, column 4", "[0, 1]", "1.5"]);
}

/// Whole-number targets that look like a quantity (body mass in grams:
/// many values, most seen once) are not taken for thousands of classes
/// under the default softmax head; the error says what to do instead.
#[test]
fn a_quantity_is_not_taken_for_classes() {
    let d = scratch();
    let mut grams = String::from("length,mass\n");
    for r in 0..150 {
        grams += &format!("{}.5,{}\n", 30 + r % 20, 2700 + 25 * r);
    }
    let f = write(&d, "grams.csv", grams.as_bytes());
    let needles = ["grams.csv: column 2 (\"mass\")", "150 distinct whole numbers", "--head linear", "--classes"];
    fails(&d, &["train", "--data", &f], true, 1, &needles);
    // Twenty values, each seen once, look like a quantity too.
    let mut few = String::new();
    for r in 0..20 {
        few += &format!("{r},{}\n", 2 * r);
    }
    let f = write(&d, "few.csv", few.as_bytes());
    fails(&d, &["train", "--data", &f], true, 1, &["few.csv", "20 of them seen once", "--head linear"]);
    // As a regression, or with the class count given, the same files train.
    for args in [&["--head", "linear"][..], &["--classes", "40"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_backprop"))
            .args(["train", "--epochs", "1", "--quiet", "--data", &f, "--out", "q.safetensors"])
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn feature_count_must_match_the_model() {
    let d = scratch();
    let train = write(&d, "three.csv", b"1,2,3,0\n3,4,5,1\n6,7,8,0\n");
    let model = d.join("m.safetensors");
    let ok = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["train", "--epochs", "1", "--quiet", "--data", &train, "--out"])
        .arg(&model)
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let two = write(&d, "two.csv", b"1,2,0\n3,4,1\n");
    fails(&d, &["eval", "--model", "m.safetensors", "--data", &two], false, 1, &["two.csv", "2 features", "3 inputs"]);
    fails(
        &d,
        &["predict", "--model", "m.safetensors", "--data", &two, "--targets", "1"],
        true,
        1,
        &["two.csv", "3 inputs"],
    );
    fails(&d, &["train", "--init", "m.safetensors", "--data", &two], true, 1, &["two.csv", "3 inputs"]);
}

#[test]
fn bad_idx_files() {
    let d = scratch();
    // Wrong magic.
    let mut bad = idx_images(2, 2, 8);
    bad[3] = 9;
    write(&d, "magic-images-idx3-ubyte", &bad);
    write(&d, "magic-labels-idx1-ubyte", &idx_labels(2, 2));
    fails(
        &d,
        &["train", "--data", "magic-images-idx3-ubyte"],
        true,
        1,
        &["magic-images-idx3-ubyte", "magic", "0x00000803"],
    );
    // Truncated pixels.
    write(&d, "short-images-idx3-ubyte", &idx_images(3, 2, 10));
    write(&d, "short-labels-idx1-ubyte", &idx_labels(3, 3));
    fails(
        &d,
        &["train", "--data", "short-images-idx3-ubyte"],
        true,
        1,
        &["short-images-idx3-ubyte", "truncated", "12", "holds 10"],
    );
    // Counts differ.
    write(&d, "count-images-idx3-ubyte.gz", &gz(&idx_images(3, 2, 12)));
    write(&d, "count-labels-idx1-ubyte.gz", &gz(&idx_labels(2, 2)));
    fails(
        &d,
        &["train", "--data", "count-images-idx3-ubyte.gz"],
        true,
        1,
        &["count-labels-idx1-ubyte.gz", "2 labels for 3 images"],
    );
    // A declared size far beyond the file, plain and gzipped: refused before
    // any buffer of that size is allocated.
    write(&d, "huge-images-idx3-ubyte", &idx_images(4_000_000_000, 1000, 16));
    write(&d, "huge-labels-idx1-ubyte", &idx_labels(2, 2));
    fails(
        &d,
        &["train", "--data", "huge-images-idx3-ubyte"],
        true,
        1,
        &["huge-images-idx3-ubyte", "declares 4000000000000000", "holds 16"],
    );
    write(&d, "hugez-images-idx3-ubyte.gz", &gz(&idx_images(4_000_000_000, 1000, 16)));
    fails(
        &d,
        &["train", "--data", "hugez-images-idx3-ubyte.gz"],
        true,
        1,
        &["hugez-images-idx3-ubyte.gz", "declares", "more than"],
    );
    // Labels missing.
    write(&d, "alone-images-idx3-ubyte", &idx_images(2, 2, 8));
    fails(&d, &["train", "--data", "alone-images-idx3-ubyte"], true, 1, &["alone-labels-idx1-ubyte", "not found"]);
}

#[test]
fn corrupt_gzip_stream() {
    let d = scratch();
    let mut z = gz(&idx_images(50, 10, 5000));
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 40] {
        *b ^= 0x5a;
    }
    write(&d, "bad-images-idx3-ubyte.gz", &z);
    write(&d, "bad-labels-idx1-ubyte.gz", &gz(&idx_labels(50, 50)));
    fails(&d, &["train", "--data", "bad-images-idx3-ubyte.gz"], true, 1, &["bad-images-idx3-ubyte.gz", "gzip"]);
    let mut csv = gz(b"1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    let n = csv.len();
    csv.truncate(n - 6);
    write(&d, "cut.csv.gz", &csv);
    fails(&d, &["train", "--data", "cut.csv.gz"], true, 1, &["cut.csv.gz", "gzip"]);
}

/// A model file in the right format, from a real training run.
fn good_model(d: &Path) -> Vec<u8> {
    let data = write(d, "d.csv", b"1,2,0\n3,4,1\n5,6,0\n");
    let o = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["train", "--epochs", "1", "--hidden", "3", "--quiet", "--data", &data, "--out", "good.safetensors"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::read(d.join("good.safetensors")).unwrap()
}

/// A safetensors file with these metadata and f32 tensors (name, shape, values).
fn safetensors_file(meta: &[(&str, &str)], tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = vec![];
    let meta: Vec<String> = meta.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    header.push(format!("\"__metadata__\":{{{}}}", meta.join(",")));
    let mut data = vec![];
    for (name, shape, vals) in tensors {
        let s: Vec<String> = shape.iter().map(|v| v.to_string()).collect();
        let start = data.len();
        data.extend(vals.iter().flat_map(|v| v.to_le_bytes()));
        header.push(format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            s.join(","),
            data.len()
        ));
    }
    let mut h = format!("{{{}}}", header.join(",")).into_bytes();
    h.resize(h.len().div_ceil(8) * 8, b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

#[test]
fn bad_model_files() {
    let d = scratch();
    let good = good_model(&d);
    let data = "d.csv";
    let eval = |name: &str, needles: &[&str]| {
        let mut all = vec![name];
        all.extend_from_slice(needles);
        fails(&d, &["eval", "--model", name, "--data", data], false, 1, &all);
        fails(&d, &["predict", "--model", name, "--data", data, "--targets", "1"], true, 1, &all);
        fails(&d, &["train", "--init", name, "--data", data], true, 1, &all);
    };
    write(&d, "cut.safetensors", &good[..good.len() - 7]);
    eval("cut.safetensors", &["not a safetensors file"]);
    write(&d, "text.safetensors", b"this is not a model at all");
    eval("text.safetensors", &["not a safetensors file"]);
    let base = [
        ("format", "backprop-mlp"),
        ("version", "1"),
        ("activation", "sigmoid"),
        ("head", "softmax"),
        ("layers", "2,3,2"),
    ];
    let tensors = || {
        vec![
            ("layers.0.weight", vec![3, 2], vec![0.1; 6]),
            ("layers.0.bias", vec![3], vec![0.0; 3]),
            ("layers.1.weight", vec![2, 3], vec![0.1; 6]),
            ("layers.1.bias", vec![2], vec![0.0; 2]),
        ]
    };
    let with =
        |k: &str, v: &'static str| base.iter().map(|&(a, b)| if a == k { (a, v) } else { (a, b) }).collect::<Vec<_>>();
    write(&d, "ok.safetensors", &safetensors_file(&base, &tensors()));
    let ok = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(["eval", "--model", "ok.safetensors", "--data", data])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(ok.status.success(), "the hand-made file is valid: {}", String::from_utf8_lossy(&ok.stderr));
    write(&d, "format.safetensors", &safetensors_file(&with("format", "onnx"), &tensors()));
    eval("format.safetensors", &["format", "onnx"]);
    write(&d, "version.safetensors", &safetensors_file(&with("version", "7"), &tensors()));
    eval("version.safetensors", &["version", "\"7\""]);
    write(&d, "act.safetensors", &safetensors_file(&with("activation", "swish"), &tensors()));
    eval("act.safetensors", &["activation", "swish"]);
    let mut shaped = tensors();
    shaped[2].1 = vec![3, 2];
    write(&d, "shape.safetensors", &safetensors_file(&base, &shaped));
    eval("shape.safetensors", &["layers.1.weight", "shape [3, 2]", "expected [2, 3]"]);
    let mut missing = tensors();
    missing[3].0 = "layers.1.offset";
    write(&d, "missing.safetensors", &safetensors_file(&base, &missing));
    eval("missing.safetensors", &["missing tensor layers.1.bias"]);
    let mut nan = tensors();
    nan[0].2[4] = f32::NAN;
    write(&d, "nan.safetensors", &safetensors_file(&base, &nan));
    eval("nan.safetensors", &["layers.0.weight", "non-finite"]);
}

#[test]
fn bad_flags_are_usage_errors() {
    let d = scratch();
    let data = write(&d, "d.csv", b"1,2,0\n3,4,1\n");
    let cases: [(&[&str], &[&str]); 8] = [
        (&["--batch-size", "0"], &["--batch-size", "at least 1"]),
        (&["--threads", "0"], &["--threads", "at least 1"]),
        (&["--hidden", "0"], &["--hidden", "at least 1"]),
        (&["--hidden", "64,0"], &["--hidden"]),
        (&["--lr", "-0.5"], &["--lr", "≥ 0"]),
        (&["--lr", "NaN"], &["--lr", "finite"]),
        (&["--epochs", "zero"], &["--epochs"]),
        (&["--val-split", "1.5"], &["--val-split", "between 0 and 1"]),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["train", "--data", &data];
        args.extend_from_slice(extra);
        clap_fails(&d, &args, true, needles);
    }
    // clap's whole message: the flag it meant, the values it allows, the
    // arguments missing.
    clap_fails(&d, &["train", "--bogus"], true, &["--bogus"]);
    clap_fails(
        &d,
        &["train", "--data", &data, "--epoch", "3"],
        true,
        &["'--epoch'", "tip: a similar argument exists: '--epochs'"],
    );
    clap_fails(&d, &["train", "--activation", "gelu"], true, &["gelu", "[possible values: sigmoid, tanh, relu]"]);
    clap_fails(&d, &["eval"], false, &["required arguments were not provided", "--model <FILE>", "--data <PATH>"]);
    // Flags that do not go together.
    let combos: [(&[&str], &[&str]); 5] = [
        (&["--optimizer", "adam", "--momentum", "0.9"], &["--momentum", "sgd"]),
        (&["--nesterov"], &["--nesterov", "--momentum"]),
        (&["--beta1", "0.8"], &["--beta1", "adam"]),
        (&["--lr-schedule", "step"], &["--step-size"]),
        (&["--patience", "2"], &["--patience", "held-out"]),
    ];
    for (extra, needles) in combos {
        let mut args = vec!["train", "--data", &data];
        args.extend_from_slice(extra);
        fails(&d, &args, true, 2, needles);
    }
    fails(&d, &["bench", "--layers", "10", "--seconds", "0.01"], false, 2, &["--layers"]);
}

/// `train` refuses a FIFO or a device as its data before reading it (it
/// reads its data more than once, and a stream is consumed by the first
/// read): a usage error, not a hang or a half-read file.
#[cfg(unix)]
#[test]
fn train_refuses_a_stream_for_its_data_without_reading_it() {
    let d = scratch();
    let fifo = d.join("rows.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Were the FIFO opened for reading, this writer (after 10 s) would end
    // the wait, so that the test fails instead of hanging.
    let writer = fifo.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(10));
        let _ = std::fs::OpenOptions::new().write(true).open(writer);
    });
    let path = fifo.to_str().unwrap();
    let needles = ["--data", "not a regular file", "save the stream to a file first"];
    fails(&d, &["train", "--data", path, "--target", "y"], true, 2, &needles);
    fails(&d, &["train", "--data", "/dev/null"], true, 2, &["--data /dev/null: not a regular file"]);
    let ok = write(&d, "ok.csv", b"a,y\n1,0\n2,1\n");
    fails(&d, &["train", "--data", &ok, "--test", path, "--target", "y"], true, 2, &["--test", "not a regular file"]);
}
