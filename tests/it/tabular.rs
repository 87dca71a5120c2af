//! Tables as people have them: text feature columns one-hot, missing cells
//! filled, the encoding kept in the model file and applied by `eval`,
//! `predict`, the `Predictor` and `inspect`; every refusal a one-line error
//! naming its line, column and value. The bundled penguins table
//! (`data/penguins/`) is the example.

use crate::common;
use crate::common::cli::fails;
use backprop::{Mlp, Predictor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn penguins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/penguins/penguins.csv")
}

fn run(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(run(dir, args).trim()).unwrap()
}

/// The penguins table's header and rows, split: every fourth row held out.
fn split(dir: &Path) -> (String, Vec<String>, Vec<String>) {
    fold(dir, 0)
}

/// Fold `k` of four of the penguins table (rows `i` with `i % 4 == k`
/// held out), written to `train.csv` and `held.csv` in `dir`.
fn fold(dir: &Path, k: usize) -> (String, Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(penguins()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, l) in lines.enumerate() {
        if i % 4 == k { &mut held } else { &mut train }.push(l.to_string());
    }
    let write = |name: &str, h: &str, rows: &[String]| {
        std::fs::write(dir.join(name), format!("{h}\n{}\n", rows.join("\n"))).unwrap()
    };
    write("train.csv", &header, &train);
    write("held.csv", &header, &held);
    (header, train, held)
}

/// What a user does by hand (pandas' `get_dummies` and `dropna`): island
/// and sex one-hot, the rows with a missing cell dropped.
fn by_hand(rows: &[String]) -> String {
    let mut out = vec![
        "species,Biscoe,Dream,Torgersen,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,female,male,year"
            .to_string(),
    ];
    for r in rows.iter().filter(|r| !r.split(',').any(|c| c == "NA")) {
        let c: Vec<&str> = r.split(',').collect();
        let hot =
            |v: &str, of: &[&str]| of.iter().map(|o| if *o == v { "1" } else { "0" }).collect::<Vec<_>>().join(",");
        out.push(format!(
            "{},{},{},{},{},{},{},{}",
            c[0],
            hot(c[1], &["Biscoe", "Dream", "Torgersen"]),
            c[2],
            c[3],
            c[4],
            c[5],
            hot(c[6], &["female", "male"]),
            c[7]
        ));
    }
    out.join("\n") + "\n"
}

const FLAGS: [&str; 10] =
    ["--target", "species", "--hidden", "16", "--epochs", "60", "--batch-size", "16", "--lr", "0.5"];

fn accuracy(dir: &Path, model: &str, data: &str) -> f64 {
    json(dir, &["eval", "--model", model, "--data", data, "--target", "species", "--json"])["accuracy"]
        .as_f64()
        .unwrap()
}

/// Held-out accuracy of fold `k`: the raw files as shipped (`--missing
/// most-frequent`), and the hand-encoded ones; and the held-out rows.
fn fold_accuracies(dir: &Path, k: usize) -> (f64, f64, Vec<String>) {
    let (_, train, held) = fold(dir, k);
    std::fs::write(dir.join("hand_train.csv"), by_hand(&train)).unwrap();
    std::fs::write(dir.join("hand_held.csv"), by_hand(&held)).unwrap();
    let mut raw = vec!["train", "--data", "train.csv", "--missing", "most-frequent", "--out", "raw.safetensors"];
    raw.extend(FLAGS);
    run(dir, &raw);
    let mut hand = vec!["train", "--data", "hand_train.csv", "--out", "hand.safetensors"];
    hand.extend(FLAGS);
    run(dir, &hand);
    (accuracy(dir, "raw.safetensors", "held.csv"), accuracy(dir, "hand.safetensors", "hand_held.csv"), held)
}

/// The raw table against the hand-encoded one (`get_dummies`, `dropna`)
/// over four folds (each row held out once): one held-out row is 1.2
/// points of a fold, so the folds' mean is compared.
#[test]
fn penguins_as_shipped_train_and_predict_within_a_point_of_the_hand_encoded_run() {
    let dir = common::scratch("tabular");
    let (mut raw, mut hand) = (Vec::new(), Vec::new());
    for k in 0..4 {
        let (r, h, _) = fold_accuracies(&dir, k);
        raw.push(r);
        hand.push(h);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a_raw, a_hand) = (mean(&raw), mean(&hand));
    eprintln!("penguins, 4 folds held out: raw {raw:?} mean {a_raw:.4}; by hand {hand:?} mean {a_hand:.4}");
    assert!(a_raw >= 0.95, "raw {a_raw}");
    assert!((a_raw - a_hand).abs() <= 0.01 + 1e-9, "raw {a_raw} against by hand {a_hand}");
    let (_, _, held) = fold_accuracies(&dir, 0);
    // predict on the raw held-out rows, missing cells and all: one class a row.
    let out = run(&dir, &["predict", "--model", "raw.safetensors", "--data", "held.csv", "--target", "species"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), held.len() + 1, "{out}");
    assert!(lines[0].starts_with("class,"), "{}", lines[0]);
    assert!(lines[1..].iter().all(|l| ["Adelie,", "Chinstrap,", "Gentoo,"].iter().any(|c| l.starts_with(c))), "{out}");
}

#[test]
fn the_model_file_keeps_the_encoding_and_inspect_shows_it() {
    let dir = common::scratch("tabular");
    let data = penguins();
    let d = json(&dir, &["inspect", "--data", data.to_str().unwrap(), "--target", "species", "--json"]);
    assert_eq!(d["rows"], 344);
    assert_eq!(d["inputs"], 10, "island 3, four measures, sex 2, year");
    let col = |name: &str| d["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(col("island")["type"], "categorical");
    assert_eq!(col("island")["categories"], serde_json::json!(["Biscoe", "Dream", "Torgersen"]));
    assert_eq!(col("sex")["missing"], 11);
    assert_eq!(col("bill_length_mm")["missing"], 2);
    assert_eq!(col("year")["range"], serde_json::json!([2007.0, 2009.0]));
    assert_eq!(col("species")["role"], "target");
    assert_eq!(d["target"]["head"], "softmax");
    assert_eq!(d["target"]["classes"], serde_json::json!(["Adelie", "Chinstrap", "Gentoo"]));
    assert!(d["missing_note"].as_str().unwrap().contains("--missing"), "{d}");
    let text = run(&dir, &["inspect", "--data", data.to_str().unwrap(), "--target", "species"]);
    assert!(text.contains("inputs after encoding: 10") && text.contains("Biscoe, Dream, Torgersen"), "{text}");

    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--missing", "auto", "--out", "m.safetensors"];
    args.extend(FLAGS);
    let epochs = args.len() - 5;
    args[epochs] = "2"; // two epochs
    run(&dir, &args);
    let m = json(&dir, &["inspect", "--model", "m.safetensors", "--json"]);
    assert_eq!(m["layers"], serde_json::json!([10, 16, 3]));
    assert_eq!(m["classes"], serde_json::json!(["Adelie", "Chinstrap", "Gentoo"]));
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 7);
    let sex = inputs.iter().find(|c| c["name"] == "sex").unwrap();
    assert_eq!(sex["categories"], serde_json::json!(["female", "male"]));
    assert_eq!(sex["fill"], "male", "auto fills a text column with its most frequent category");
    let bill = inputs.iter().find(|c| c["name"] == "bill_length_mm").unwrap();
    let mean = 43.92193; // the mean of the 342 bill lengths
    assert!((bill["fill"].as_f64().unwrap() - mean).abs() < 1e-3, "{bill}");
    assert_eq!(m["training"]["missing"], "auto");
    // One-hot inputs are not standardised: mean 0, deviation 1.
    let mean_in = m["scaling"]["inputs"]["mean"].as_array().unwrap();
    assert_eq!(&mean_in[..3], &[0.0, 0.0, 0.0], "island's three inputs");
    assert!(mean_in[3].as_f64().unwrap() > 40.0, "bill length is standardised");
    // The library reads the same model and raw cells.
    let mlp = Mlp::load(&dir.join("m.safetensors")).unwrap();
    let mut p = Predictor::new(&mlp).unwrap();
    assert_eq!(p.columns(), 7);
    let cells =
        ["Torgersen", "39.1", "18.7", "181", "3750", "male", "2007", "Dream", "NA", "NA", "NA", "NA", "NA", "2008"];
    let mut y = [0.0f32; 6];
    p.predict_cells(&cells, 2, &mut y).unwrap();
    std::fs::write(dir.join("two.csv"), "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\nTorgersen,39.1,18.7,181,3750,male,2007\nDream,NA,NA,NA,NA,NA,2008\n").unwrap();
    let out = run(&dir, &["predict", "--model", "m.safetensors", "--data", "two.csv"]);
    let cli: Vec<f32> = out
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').skip(1).map(|v| v.parse::<f32>().unwrap()).collect::<Vec<_>>())
        .collect();
    assert_eq!(cli.len(), 6, "{out}");
    for (a, b) in cli.iter().zip(&y) {
        assert!((a - b).abs() < 1e-6, "predict {cli:?} against predict_cells {y:?}");
    }
    let e = p.predict_cells(&["Atlantis", "1", "1", "1", "1", "male", "2007"], 1, &mut y[..3]).unwrap_err().to_string();
    assert!(e.contains("row 1, column 1 (\"island\")") && e.contains("\"Atlantis\""), "{e}");
}

#[test]
fn text_columns_chosen_or_found_late_are_categories_as_written() {
    let dir = common::scratch("tabular");
    // `size` holds numbers first and text later: categorical from its first
    // row, its numbers kept as written; `zip` is made categorical.
    let mut csv = String::from("zip,size,x,y\n");
    for i in 0..40 {
        let size = if i < 30 { ["1", "2"][i % 2] } else { "big" };
        csv += &format!("{},{size},{},{}\n", ["02139", "10001"][i % 2], i as f32 / 40.0, i % 2);
    }
    std::fs::write(dir.join("t.csv"), &csv).unwrap();
    let d = json(&dir, &["inspect", "--data", "t.csv", "--categorical", "zip", "--json"]);
    let cols = d["columns"].as_array().unwrap();
    assert_eq!(cols[0]["categories"], serde_json::json!(["02139", "10001"]));
    assert_eq!(cols[1]["categories"], serde_json::json!(["1", "2", "big"]));
    assert_eq!(cols[2]["type"], "numeric");
    assert_eq!(d["inputs"], 6);
    run(&dir, &["train", "--data", "t.csv", "--categorical", "1", "--epochs", "1", "--out", "m.safetensors"]);
    let m = json(&dir, &["inspect", "--model", "m.safetensors", "--json"]);
    assert_eq!(m["layers"][0], 6);
}

#[test]
fn refusals_name_the_line_column_and_value() {
    let dir = common::scratch("tabular");
    let (header, train, _) = split(&dir);
    let mut args = vec!["train", "--data", "train.csv", "--missing", "auto", "--epochs", "1", "--target", "species"];
    args.extend(["--out", "m.safetensors"]);
    run(&dir, &args);
    let write =
        |name: &str, row: &str| std::fs::write(dir.join(name), format!("{header}\n{}\n{row}\n", train[0])).unwrap();
    // A category unseen in training, and the flag that reads it as none.
    write("unseen.csv", "Adelie,Atlantis,39,18,181,3750,male,2007");
    let eval = |data: &'static str| vec!["eval", "--model", "m.safetensors", "--data", data, "--target", "species"];
    fails(
        &dir,
        &eval("unseen.csv"),
        false,
        1,
        &[
            "unseen.csv: line 3, column 2 (\"island\")",
            "category \"Atlantis\" was not seen in training",
            "Biscoe, Dream, Torgersen",
            "--unknown-category ignore",
        ],
    );
    let mut ignore = eval("unseen.csv");
    ignore.extend(["--unknown-category", "ignore"]);
    run(&dir, &ignore);
    // Text where training had numbers.
    write("text.csv", "Adelie,Dream,long,18,181,3750,male,2007");
    fails(
        &dir,
        &eval("text.csv"),
        false,
        1,
        &["line 3, column 3 (\"bill_length_mm\")", "got \"long\"", "numeric in training"],
    );
    // A missing target, in training and in scoring.
    write("notarget.csv", "NA,Dream,39,18,181,3750,male,2007");
    fails(
        &dir,
        &["train", "--data", "notarget.csv", "--target", "species", "--missing", "auto"],
        true,
        1,
        &["notarget.csv: line 3, column 1 (\"species\")", "the target is missing"],
    );
    fails(&dir, &eval("notarget.csv"), false, 1, &["line 3, column 1 (\"species\")", "the target is missing"]);
    // Missing cells without --missing, and a mean of text.
    fails(
        &dir,
        &["train", "--data", "train.csv", "--target", "species"],
        true,
        1,
        &["line 4, column 3 (\"bill_length_mm\")", "\"NA\" (a missing value)", "--missing auto"],
    );
    fails(
        &dir,
        &["train", "--data", "train.csv", "--target", "species", "--missing", "mean"],
        true,
        1,
        &["feature column \"island\"", "no mean", "--missing most-frequent"],
    );
}

#[test]
fn a_held_out_file_is_read_with_the_training_encoding() {
    let dir = common::scratch("tabular");
    split(&dir);
    let args = [
        "train",
        "--data",
        "train.csv",
        "--test",
        "held.csv",
        "--missing",
        "auto",
        "--target",
        "species",
        "--epochs",
        "3",
    ];
    let out = run(&dir, &[&args[..], &["--out", "m.safetensors"]].concat());
    assert!(out.contains("test"), "{out}");
    // A held-out file with a category the training rows lack is refused.
    let text = std::fs::read_to_string(dir.join("held.csv")).unwrap().replacen("Dream", "Atlantis", 1);
    std::fs::write(dir.join("held2.csv"), text).unwrap();
    let mut a = args.to_vec();
    a[4] = "held2.csv";
    fails(&dir, &a, true, 1, &["held2.csv", "\"Atlantis\" was not seen in training"]);
}
