//! `eval`'s report on models whose outputs are known by construction (no
//! hidden layer, identity weights): per class precision, recall, F1 and
//! support and the confusion matrix; per label for logistic; RMSE, MAE and
//! R² per target for linear. Figures as scikit-learn's
//! `classification_report`, `confusion_matrix` and `r2_score` give them.

use crate::common;

use backprop::{Activation, Head, Mlp};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// A model `y = head(x·I)`: n inputs, n outputs, identity weights.
fn identity(dir: &Path, head: Head, n: usize) -> String {
    let mut p = vec![0.0f32; n * n + n];
    (0..n).for_each(|i| p[i * n + i] = 1.0);
    let m = Mlp::from_parts(vec![n, n], Activation::Sigmoid, head, p).unwrap();
    let name = format!("{head}.safetensors");
    m.save(&dir.join(&name)).unwrap();
    name
}

fn eval(dir: &Path, args: &[&str]) -> (Value, String) {
    let run = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_backprop"));
        c.arg("eval").args(args).current_dir(dir);
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    (serde_json::from_str(&run(true)).unwrap(), run(false))
}

#[test]
fn softmax_reports_per_class_scores_and_the_confusion_matrix() {
    let dir = common::scratch("eval-report");
    let model = identity(&dir, Head::Softmax, 3);
    // (true class, predicted class) pairs: the predicted one gets the largest input.
    let pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 1), (1, 2), (2, 2), (2, 0), (2, 0)];
    let csv: String = pairs
        .iter()
        .map(|&(t, p)| {
            let x: Vec<&str> = (0..3).map(|j| if j == p { "1" } else { "0" }).collect();
            format!("{},{t}\n", x.join(","))
        })
        .collect();
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let (j, text) = eval(&dir, &["--model", &model, "--data", "d.csv"]);
    assert_eq!(j["confusion"], json!([[2, 1, 0], [0, 3, 1], [2, 0, 1]]));
    // Class 0: tp 2, predicted 4, actual 3; class 1: 3, 4, 4; class 2: 1, 2, 3.
    let want = [(2.0 / 4.0, 2.0 / 3.0, 3u64), (3.0 / 4.0, 3.0 / 4.0, 4), (1.0 / 2.0, 1.0 / 3.0, 3)];
    for (c, (p, r, support)) in j["classes"].as_array().unwrap().iter().zip(want) {
        let f1 = 2.0 * p * r / (p + r);
        let close = |k: &str, v: f64| (c[k].as_f64().unwrap() - v).abs() < 1e-12;
        assert!(close("precision", p) && close("recall", r) && close("f1", f1), "{c}");
        assert_eq!(c["support"], support);
    }
    assert_eq!(j["classes"][1]["name"], "1");
    assert!(text.contains("confusion matrix (rows: true class, columns: predicted)"), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["2", "2", "0", "1"]), "{text}");
    assert!(text.contains("0.5000  0.6667  0.5714        3"), "{text}");
}

#[test]
fn logistic_reports_per_label_scores() {
    let dir = common::scratch("eval-report");
    let model = identity(&dir, Head::Logistic, 2);
    // Label 0: predicted (x > 0) 1,1,0,0 against 1,0,1,0; label 1: all predicted 1, targets 1,1,1,0.
    let csv = "a,b,first,second\n1,1,1,1\n1,1,0,1\n-1,1,1,1\n-1,1,0,0\n";
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let (j, text) = eval(&dir, &["--model", &model, "--data", "d.csv", "--targets", "2"]);
    let labels = j["labels"].as_array().unwrap();
    assert_eq!((labels[0]["precision"].as_f64(), labels[0]["recall"].as_f64()), (Some(0.5), Some(0.5)));
    assert_eq!((labels[1]["precision"].as_f64(), labels[1]["recall"].as_f64()), (Some(0.75), Some(1.0)));
    assert_eq!((&labels[0]["support"], &labels[1]["support"]), (&json!(2), &json!(3)));
    assert!(j.get("confusion").is_none());
    assert!(text.starts_with("rows 4") && text.contains("label"), "{text}");
}

#[test]
fn linear_reports_rmse_mae_and_r2_per_target() {
    let dir = common::scratch("eval-report");
    let model = identity(&dir, Head::Linear, 2);
    // Outputs equal inputs: column 0 off by 1, -1, 2, 0; column 1 exact.
    let csv = "u,v,price,size\n1,5,0,5\n2,6,3,6\n3,7,1,7\n4,8,4,8\n";
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let (j, text) = eval(&dir, &["--model", &model, "--data", "d.csv", "--targets", "2"]);
    let t = j["targets"].as_array().unwrap();
    // Targets 0,3,1,4: mean 2, Σ(t-mean)² = 10; errors 1,-1,2,0: Σe² = 6.
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&t[0]["rmse"], (6.0f64 / 4.0).sqrt()) && close(&t[0]["mae"], 1.0), "{}", t[0]);
    assert!(close(&t[0]["r2"], 1.0 - 6.0 / 10.0), "{}", t[0]);
    assert!(close(&t[1]["rmse"], 0.0) && close(&t[1]["r2"], 1.0), "{}", t[1]);
    assert_eq!((&t[0]["name"], &t[1]["name"]), (&json!("0"), &json!("1")));
    assert!(text.contains("target") && text.contains("mae"), "{text}");
}
