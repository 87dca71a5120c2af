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
