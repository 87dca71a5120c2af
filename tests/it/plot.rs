//! `backprop plot`: a run's log drawn as SVG and PNG, and its errors.

use crate::common;

use crate::common::cli::{clap_fails, fails};
use std::path::Path;
use std::process::Command;

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backprop"));
    c.current_dir(dir);
    c
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A log of two runs of the bundled iris CSV: 3 epochs, then 4 with a
/// validation split.
fn two_runs(dir: &Path) {
    let iris = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv");
    for (epochs, extra) in [("3", None), ("4", Some("--val-split"))] {
        let mut c = bin(dir);
        c.args(["train", "--target", "species", "--quiet", "--log", "l.jsonl", "--epochs", epochs, "--data"])
            .arg(&iris);
        if let Some(flag) = extra {
            c.args([flag, "0.2"]);
        }
        ok(&mut c);
    }
}

/// The text elements of an SVG, trimmed.
fn texts(svg: &str) -> Vec<&str> {
    svg.split("<text").skip(1).filter_map(|t| Some(t.split_once('>')?.1.split("</text>").next()?.trim())).collect()
}

#[test]
fn a_log_draws_as_svg_and_png() {
    let dir = common::scratch("plot");
    two_runs(&dir);
    assert!(ok(bin(&dir).args(["plot", "--log", "l.jsonl", "--out", "c.svg"])).contains("drew"));
    let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..100]);
    // The last run: train and val lines of loss and accuracy, 4 epochs.
    let texts = texts(&svg);
    for text in ["train loss", "val loss", "train accuracy", "val accuracy", "accuracy (%)", "epoch"] {
        assert!(texts.contains(&text), "the SVG lacks {text:?}: {texts:?}");
    }
    assert!(texts[0].starts_with("run ") && texts[0].ends_with(", 4-128-3 on iris.csv"), "title {:?}", texts[0]);
    for (epoch, shown) in [("1", 2), ("4", 2), ("5", 0), ("1.5", 0)] {
        assert_eq!(texts.iter().filter(|t| **t == epoch).count(), shown, "epoch label {epoch}: {texts:?}");
    }
    // The first run, by its id: no held-out lines.
    let first = std::fs::read_to_string(dir.join("l.jsonl")).unwrap();
    let id = serde_json::from_str::<serde_json::Value>(first.lines().next().unwrap()).unwrap()["run"].clone();
    ok(bin(&dir).args(["plot", "--log", "l.jsonl", "--out", "first.svg", "--run", id.as_str().unwrap()]));
    let first = std::fs::read_to_string(dir.join("first.svg")).unwrap();
    let shown = self::texts(&first).join("|");
    assert!(shown.contains("train loss") && !shown.contains("val loss"), "{shown}");

    ok(bin(&dir).args(["plot", "--log", "l.jsonl", "--out", "c.png"]));
    let png = std::fs::read(dir.join("c.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((&png[12..16], be(16), be(20)), (&b"IHDR"[..], 1100, 450), "the PNG's header");
}

#[test]
fn bad_logs_and_outputs_are_one_line_errors() {
    let dir = common::scratch("plot-errors");
    two_runs(&dir);
    clap_fails(&dir, &["plot", "--log", "l.jsonl"], false, &["--out"]);
    fails(&dir, &["plot", "--log", "l.jsonl", "--out", "c.pdf"], false, 2, &["c.pdf", ".svg or .png"]);
    fails(&dir, &["plot", "--log", "none.jsonl", "--out", "c.svg"], false, 1, &["none.jsonl"]);
    fails(&dir, &["plot", "--log", "l.jsonl", "--out", "l.jsonl"], false, 2, &["--out", "--log"]);
    fails(&dir, &["plot", "--log", "l.jsonl", "--out", "c.svg", "--run", "nope"], false, 1, &["no run \"nope\""]);
    std::fs::write(dir.join("bad.jsonl"), "{\"run\":\"a\"}\n{\"epoch\": 1,\n").unwrap();
    fails(&dir, &["plot", "--log", "bad.jsonl", "--out", "c.svg"], false, 1, &["bad.jsonl", "line 2", "JSON object"]);
    // An existing picture survives a failed plot.
    std::fs::write(dir.join("keep.svg"), "old").unwrap();
    fails(&dir, &["plot", "--log", "bad.jsonl", "--out", "keep.svg"], false, 1, &["line 2"]);
    assert_eq!(std::fs::read_to_string(dir.join("keep.svg")).unwrap(), "old");
    assert!(!dir.join("c.svg").exists());
}

/// Runs `c` to its end or for at most a minute; a run still going then is
/// killed and fails the test (a hang, not a wait).
fn within_a_minute(c: &mut Command) -> std::process::Output {
    let mut child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{c:?} still running after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Losses of ±9e307 (whose padded range is wider than the largest float)
/// are an error naming the values, not a hang; ±4e307 still draws.
#[test]
fn losses_too_far_apart_are_an_error_not_a_hang() {
    let dir = common::scratch("plot-huge");
    let log = |lo: &str, hi: &str| {
        format!(
            "{{\"run\":\"r\",\"started\":\"x\",\"layers\":[2,3,1]}}\n\
             {{\"run\":\"r\",\"epoch\":1,\"train_loss\":{lo}}}\n{{\"run\":\"r\",\"epoch\":2,\"train_loss\":{hi}}}\n"
        )
    };
    std::fs::write(dir.join("huge.jsonl"), log("-9e307", "9e307")).unwrap();
    let out = within_a_minute(bin(&dir).args(["plot", "--log", "huge.jsonl", "--out", "h.svg"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error:") && err.contains("-9e307 to 9e307") && err.contains("too far apart"), "{err}");
    assert!(!dir.join("h.svg").exists());
    std::fs::write(dir.join("big.jsonl"), log("-4e307", "4e307")).unwrap();
    let out = within_a_minute(bin(&dir).args(["plot", "--log", "big.jsonl", "--out", "b.svg"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Control characters in a run id, a data file's name or the held-out
/// label reach the SVG escaped (`\u{1b}`), so that it stays well-formed
/// XML, which forbids them.
#[test]
fn control_characters_are_escaped_in_the_svg() {
    let dir = common::scratch("plot-control");
    let lines = [
        r#"{"run":"a\u0001b\u001b[31m","started":"x","layers":[2,3,1],"settings":{"data":"/tmp/d\u0002.csv"}}"#,
        r#"{"run":"a\u0001b\u001b[31m","epoch":1,"train_loss":1.0,"heldout":"v\u0003al","heldout_loss":2.0}"#,
    ];
    std::fs::write(dir.join("c.jsonl"), lines.join("\n") + "\n").unwrap();
    ok(bin(&dir).args(["plot", "--log", "c.jsonl", "--out", "c.svg"]));
    let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
    let bad: Vec<char> = svg.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')).collect();
    assert!(bad.is_empty(), "control characters in the SVG: {bad:?}");
    let texts = texts(&svg).join("|");
    for shown in [r"run a\u{1}b\u{1b}[31m", r"d\u{2}.csv", r"v\u{3}al loss"] {
        assert!(texts.contains(shown), "{shown:?} not in {texts}");
    }
}
