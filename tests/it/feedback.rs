//! What a run tells its user: the log's keys whatever the held-out source,
//! and the learning rate on the epoch line when a schedule moves it.

use crate::common;

use std::path::Path;
use std::process::Command;

fn train(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_backprop")).arg("train").args(args).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn data(dir: &Path) -> String {
    let mut rng = backprop::rng::Rng::new(9);
    let rows: String = (0..120)
        .map(|_| {
            let x: Vec<f32> = (0..3).map(|_| rng.uniform(-1.0, 1.0)).collect();
            format!("{},{},{},{}\n", x[0], x[1], x[2], (x[0] > 0.0) as u8)
        })
        .collect();
    std::fs::write(dir.join("d.csv"), &rows).unwrap();
    let half: String = rows.lines().take(60).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("t.csv"), half).unwrap();
    "d.csv".into()
}

fn last_log_line(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn the_log_uses_heldout_keys_and_names_the_source() {
    let dir = common::scratch("feedback");
    let d = data(&dir);
    for (flags, source) in [(&["--val-split", "0.25"][..], "val"), (&["--test", "t.csv"][..], "test")] {
        let log = format!("{source}.jsonl");
        train(&dir, &[&["--data", &d, "--epochs", "2", "--quiet", "--log", &log][..], flags].concat());
        let line = last_log_line(&dir.join(&log));
        assert_eq!(line["heldout"], source, "{line:?}");
        for key in ["heldout_rows", "heldout_loss", "heldout_accuracy", "train_loss"] {
            assert!(line.contains_key(key), "{source}: no {key} in {line:?}");
        }
        assert!(!line.keys().any(|k| k.starts_with("val_") || k.starts_with("test_")), "{line:?}");
    }
    train(&dir, &["--data", &d, "--epochs", "1", "--quiet", "--log", "none.jsonl"]);
    let line = last_log_line(&dir.join("none.jsonl"));
    assert!(!line.contains_key("heldout") && !line.contains_key("heldout_loss"), "{line:?}");
}

#[test]
fn the_epoch_line_shows_the_rate_only_when_a_schedule_moves_it() {
    let dir = common::scratch("feedback");
    let d = data(&dir);
    let plain = train(&dir, &["--data", &d, "--epochs", "2"]);
    assert!(!plain.contains(" lr "), "{plain}");
    let cosine = train(&dir, &["--data", &d, "--epochs", "2", "--lr-schedule", "cosine", "--lr", "0.5"]);
    let lines: Vec<&str> = cosine.lines().filter(|l| l.starts_with("epoch")).collect();
    // 120 rows, batch 64: 2 steps an epoch, 4 in all, cosine over them; the
    // line shows the rate of the epoch's last step, ½·0.5·(1 + cos(π·s/4))
    // for s = 1 and 3.
    assert!(lines[0].contains("  lr 4.2678e-1  "), "{cosine}");
    assert!(lines[1].contains("  lr 7.3223e-2  "), "{cosine}");
    // Warm-up: step 2 of 10 runs at 2/10 of the rate.
    let warm = train(&dir, &["--data", &d, "--epochs", "1", "--warmup-steps", "10"]);
    assert!(warm.contains("  lr 2.0000e-1  "), "{warm}");
}
