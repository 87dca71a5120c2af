//! The command line's row weights (`--weight-column`) and Poisson head
//! (`--head poisson`): rows of weight 0 train as rows left out, scores are
//! weighted, `predict` passes the column by, bad weights and counts are
//! one-line errors at their line and column.

use crate::common::cli::{fails, write};
use crate::common::scratch;
use backprop::rng::Rng;
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// 120 rows of `a,b,c,w,y` (y = [a + b·c > 0], w 0 on every fourth row),
/// and the same rows without the weight column: all of them (`all.csv`)
/// and those of weight 1 alone (`kept.csv`).
fn weighted_files(dir: &Path) {
    let mut rng = Rng::new(1);
    let (mut w, mut all, mut kept) =
        (String::from("a,b,c,w,y\n"), String::from("a,b,c,y\n"), String::from("a,b,c,y\n"));
    for r in 0..120 {
        let x: Vec<f32> = (0..3).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let (y, weight) = (u8::from(x[0] + x[1] * x[2] > 0.0), u8::from(r % 4 != 0));
        let cells = format!("{:.4},{:.4},{:.4}", x[0], x[1], x[2]);
        w += &format!("{cells},{weight},{y}\n");
        all += &format!("{cells},{y}\n");
        if weight == 1 {
            kept += &format!("{cells},{y}\n");
        }
    }
    for (name, text) in [("w.csv", w), ("all.csv", all), ("kept.csv", kept)] {
        write(dir, name, text.as_bytes());
    }
}

/// With the batch holding every row and no shuffling, a run whose rows of
/// weight 0 are in the file writes the model, byte for byte, of the run
/// without those rows: they change neither the gradient, nor the loss, nor
/// the standardisation.
#[test]
fn rows_of_weight_zero_train_as_rows_left_out() {
    let d = scratch("weight-column");
    weighted_files(&d);
    let common = ["--target", "y", "--hidden", "8", "--epochs", "5", "--batch-size", "200", "--no-shuffle", "--quiet"];
    run(&d, &[&["train", "--data", "w.csv", "--weight-column", "w", "--out", "a.st"][..], &common].concat());
    run(&d, &[&["train", "--data", "kept.csv", "--out", "b.st"][..], &common].concat());
    assert!(crate::common::model_content(&d.join("a.st")) == crate::common::model_content(&d.join("b.st")));
    // The weights shape the model: without them it is another.
    run(&d, &[&["train", "--data", "all.csv", "--out", "c.st"][..], &common].concat());
    assert!(crate::common::model_content(&d.join("a.st")) != crate::common::model_content(&d.join("c.st")));
}

/// `eval --weight-column` scores and reports as if the rows of weight 0
/// were absent;
/// `predict --weight-column` passes the column by, predicting what it
/// predicts for the file without it.
#[test]
fn scores_are_weighted_and_predict_passes_the_column_by() {
    let d = scratch("weight-column");
    weighted_files(&d);
    run(
        &d,
        &["train", "--data", "all.csv", "--target", "y", "--hidden", "8", "--epochs", "3", "--out", "m.st", "--quiet"],
    );
    let eval = |args: &[&str]| run(&d, &[&["eval", "--model", "m.st", "--json", "--target", "y"][..], args].concat());
    let weighted = eval(&["--data", "w.csv", "--weight-column", "w"]);
    let kept = eval(&["--data", "kept.csv"]);
    let json = |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap();
    let field = |j: &str, k: &str| json(j)[k].as_f64().unwrap();
    for k in ["loss", "accuracy"] {
        assert!((field(&weighted, k) - field(&kept, k)).abs() < 1e-9, "{k}: {weighted} vs {kept}");
    }
    // The report too: precision, recall, support and the confusion matrix.
    for k in ["classes", "confusion"] {
        assert_eq!(json(&weighted)[k], json(&kept)[k], "{k}");
    }
    assert_ne!(field(&weighted, "loss"), field(&eval(&["--data", "all.csv"]), "loss"));
    let with = run(&d, &["predict", "--model", "m.st", "--data", "w.csv", "--weight-column", "w", "--target", "y"]);
    let without = run(&d, &["predict", "--model", "m.st", "--data", "all.csv", "--target", "y"]);
    assert_eq!(with, without);
}

#[test]
fn bad_weights_are_one_line_errors() {
    let d = scratch("weight-column");
    let file = |name: &str, text: &str| write(&d, name, text.as_bytes());
    let neg = file("neg.csv", "a,w,y\n1,1,0\n2,-2,1\n");
    let args = ["train", "--data", &neg, "--target", "y", "--weight-column", "w"];
    fails(&d, &args, true, 1, &["neg.csv: line 3, column 2 (\"w\")", "row weight must be ≥ 0, got -2"]);
    let text = file("text.csv", "a,w,y\n1,heavy,0\n");
    let args = ["train", "--data", &text, "--target", "y", "--weight-column", "w"];
    fails(&d, &args, true, 1, &["line 2, column 2 (\"w\")", "\"heavy\"", "row weight"]);
    let zero = file("zero.csv", "a,w,y\n1,0,0\n2,0,1\n");
    let args = ["train", "--data", &zero, "--target", "y", "--weight-column", "w"];
    fails(&d, &args, true, 1, &["zero.csv", "every row weight is 0"]);
    // Usage errors: a column the file has not, one chosen twice, IDX data.
    let ok = file("ok.csv", "a,w,y\n1,1,0\n2,1,1\n");
    let args = ["train", "--data", &ok, "--target", "y", "--weight-column", "weight"];
    fails(&d, &args, true, 2, &["--weight-column \"weight\": no such column", "a, w, y"]);
    let args = ["train", "--data", &ok, "--target", "y", "--weight-column", "y"];
    fails(&d, &args, true, 2, &["column 3 cannot be both a target and the id or weight column"]);
    let args = ["train", "--data", &ok, "--weight-column", "9"];
    fails(&d, &args, true, 2, &["--weight-column 9: expected one column of the 3"]);
    fails(&d, &["train", "--weight-column", "1"], true, 2, &["--weight-column", "IDX file has no columns"]);
}

/// `--head poisson` fits counts whose log-rate is linear in the inputs:
/// it scores R² well above 0 where the rates vary, predicts positive
/// rates, and refuses a negative count at its line and column, and
/// `--standardize-targets`.
#[test]
fn the_poisson_head_fits_counts() {
    let d = scratch("poisson");
    let mut rng = Rng::new(2);
    let mut text = String::from("a,b,count\n");
    for _ in 0..400 {
        let (a, b) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        let rate = (0.5 + a - 0.7 * b).exp();
        // Knuth's Poisson sampler.
        let (limit, mut p, mut k) = ((-rate).exp(), 1.0f32, 0);
        loop {
            p *= rng.next_f32();
            if p < limit {
                break;
            }
            k += 1;
        }
        text += &format!("{a:.4},{b:.4},{k}\n");
    }
    write(&d, "p.csv", text.as_bytes());
    let args = ["--target", "count", "--head", "poisson", "--hidden", "8", "--epochs", "30", "--lr", "0.05", "--quiet"];
    run(&d, &[&["train", "--data", "p.csv", "--out", "p.st"][..], &args].concat());
    let json = run(&d, &["eval", "--model", "p.st", "--data", "p.csv", "--target", "count", "--json"]);
    let r2 = serde_json::from_str::<serde_json::Value>(&json).unwrap()["r2"].as_f64().unwrap();
    assert!(r2 > 0.3, "{json}");
    let rates = run(&d, &["predict", "--model", "p.st", "--data", "p.csv", "--target", "count"]);
    assert!(rates.lines().skip(1).all(|l| l.parse::<f32>().is_ok_and(|v| v > 0.0)), "{rates}");
    let neg = write(&d, "neg.csv", b"a,b,count\n1,2,3\n\n1,2,-1\n");
    let train = ["train", "--data", &neg, "--target", "count", "--head", "poisson"];
    fails(&d, &train, true, 1, &["neg.csv: line 4, column 3 (\"count\")", "never negative, got -1"]);
    let train = ["train", "--data", "p.csv", "--target", "count", "--head", "poisson", "--standardize-targets"];
    fails(&d, &train, true, 2, &["--standardize-targets applies only to --head linear"]);
}
