//! `predict --id-column` passes a column through (not a feature), and
//! `--with-targets` copies the true values after the predictions.

use crate::common;

use backprop::{Activation, Head, Mlp};
use std::path::Path;
use std::process::Command;

fn predict(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_backprop")).arg("predict").args(args).current_dir(dir).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> Vec<String> {
    let o = predict(dir, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect()
}

/// A linear model `y = x0 + 10·x1`, no hidden layer.
fn model(dir: &Path) -> String {
    let m = Mlp::from_parts(vec![2, 1], Activation::Sigmoid, Head::Linear, vec![1.0, 10.0, 0.0]).unwrap();
    m.save(&dir.join("m.safetensors")).unwrap();
    "m.safetensors".into()
}

#[test]
fn the_id_column_leads_and_is_no_feature_and_true_targets_follow() {
    let dir = common::scratch("predict-columns");
    let m = model(&dir);
    std::fs::write(dir.join("d.csv"), "x0,key,x1,price\n1,a-7,2,20\n3,b 8,0.5,9\n").unwrap();
    let rows = ok(&dir, &["--model", &m, "--data", "d.csv", "--id-column", "key", "--with-targets"]);
    assert_eq!(rows, ["key,y0,true_price", "a-7,21.0,20.0", "b 8,8.0,9.0"]);
    // By position, without targets in the file: the id is column 2, named `id`.
    std::fs::write(dir.join("n.csv"), "1,a-7,2\n3,b 8,0.5\n").unwrap();
    assert_eq!(ok(&dir, &["--model", &m, "--data", "n.csv", "--id-column", "2"]), ["id,y0", "a-7,21.0", "b 8,8.0"]);
}

#[test]
fn with_targets_reads_the_labels_beside_idx_images() {
    let dir = common::scratch("predict-columns");
    let imgs = common::cli::write(&dir, "i-images-idx3-ubyte", &common::cli::idx_images(4, 1, 4));
    common::cli::write(&dir, "i-labels-idx1-ubyte", &common::cli::idx_labels(4, 4));
    let m = Mlp::from_parts(vec![1, 3], Activation::Sigmoid, Head::Softmax, vec![0.0; 6]).unwrap();
    m.save(&dir.join("s.safetensors")).unwrap();
    let rows = ok(&dir, &["--model", "s.safetensors", "--data", &imgs, "--with-targets"]);
    assert_eq!(rows[0], "class,y0,y1,y2,true_class");
    let truth: Vec<&str> = rows[1..].iter().map(|r| r.rsplit(',').next().unwrap()).collect();
    assert_eq!(truth, ["0", "1", "2", "0"], "the labels file's classes, as integers");
    // Without the flag the labels are not needed.
    std::fs::remove_file(dir.join("i-labels-idx1-ubyte")).unwrap();
    assert_eq!(ok(&dir, &["--model", "s.safetensors", "--data", &imgs]).len(), 5);
}

#[test]
fn bad_id_and_target_requests_are_one_line_errors() {
    let dir = common::scratch("predict-columns");
    let m = model(&dir);
    std::fs::write(dir.join("d.csv"), "x0,key,x1,price\n1,a,2,20\n").unwrap();
    std::fs::write(dir.join("n.csv"), "1,2\n3,4\n").unwrap();
    // A column the file has not is a usage error (exit 2); data without
    // the targets asked for is bad input (exit 1).
    let cases: [(&[&str], i32, &str); 4] = [
        (&["--data", "d.csv", "--id-column", "nope"], 2, "--id-column \"nope\": no such column"),
        (&["--data", "d.csv", "--id-column", "9"], 2, "--id-column 9: expected one column of the 4"),
        (&["--data", "d.csv", "--target", "cost"], 2, "--target \"cost\": no such column"),
        (&["--data", "n.csv", "--with-targets"], 1, "holds no target columns"),
    ];
    for (args, code, needle) in cases {
        common::cli::fails(&dir, &[&["predict", "--model", &m][..], args].concat(), true, code, &[args[1], needle]);
    }
}

/// A model trained on a CSV with a header keeps its features' names, and a
/// file with a header is matched to them by name in any order (`eval`,
/// `predict`): swapping columns changes nothing. A file without a header
/// is taken by position; one whose header lacks a feature, or has one the
/// model does not know, is an error naming it.
#[test]
fn features_are_matched_by_name_when_the_file_has_a_header() {
    let dir = common::scratch("feature-names");
    let rows: Vec<[f32; 4]> = (0..60)
        .map(|i| {
            let (a, b, c) = ((i % 7) as f32 / 7.0, (i % 5) as f32 / 5.0, (i % 3) as f32 / 3.0);
            [a, b, c, (a > b) as u8 as f32]
        })
        .collect();
    let csv = |name: &str, header: Option<&str>, cols: &[usize]| {
        let mut s = header.map_or(String::new(), |h| format!("{h}\n"));
        for r in &rows {
            s += &(cols.iter().map(|&c| r[c].to_string()).collect::<Vec<_>>().join(",") + "\n");
        }
        std::fs::write(dir.join(name), s).unwrap();
    };
    csv("train.csv", Some("a,b,c,label"), &[0, 1, 2, 3]);
    csv("swapped.csv", Some("c,label,b,a"), &[2, 3, 1, 0]);
    csv("plain.csv", None, &[0, 1, 2, 3]);
    csv("lacks.csv", Some("a,c,label"), &[0, 2, 3]);
    csv("extra.csv", Some("a,b,c,d,label"), &[0, 1, 2, 2, 3]);
    let run =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(&dir).output().unwrap();
    let train = ["train", "--data", "train.csv", "--target", "label", "--hidden", "8", "--epochs", "20", "--quiet"];
    assert!(run(&train).status.success());
    let eval = |data: &str, target: &str| {
        run(&["eval", "--model", "model.safetensors", "--data", data, "--target", target, "--json"])
    };
    let want = eval("train.csv", "label");
    assert!(want.status.success(), "{}", String::from_utf8_lossy(&want.stderr));
    assert_eq!(eval("swapped.csv", "label").stdout, want.stdout, "eval with the columns swapped");
    assert_eq!(eval("plain.csv", "4").stdout, want.stdout, "eval without a header, by position");
    let pred = |data: &str| ok(&dir, &["--model", "model.safetensors", "--data", data, "--target", "label"]);
    assert_eq!(pred("swapped.csv"), pred("train.csv"), "predict with the columns swapped");
    for (data, needle) in
        [("lacks.csv", "lacks the feature column(s) b"), ("extra.csv", "does not know its column(s) d")]
    {
        let o = eval(data, "label");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{data}: {err}");
        assert!(err.starts_with("error:") && err.contains(data) && err.contains(needle), "{data}: {err}");
        assert!(err.contains("the model's features are a, b, c"), "{err}");
    }
}
