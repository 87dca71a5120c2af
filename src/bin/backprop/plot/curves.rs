//! A run's curves, read from the log `train --log` writes: one JSON object
//! per line, the run's first line (`started`, with its settings), maybe
//! lines where it `resumed`, and one line per epoch, each with the run's id.

use backprop::Error;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One line of a chart: its name and its (epoch, value) points.
#[derive(Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One chart: its name (the y axis) and its lines.
#[derive(Debug, PartialEq)]
pub struct Panel {
    pub name: String,
    pub series: Vec<Series>,
}

/// What is drawn of one run.
#[derive(Debug, PartialEq)]
pub struct Curves {
    pub title: String,
    pub panels: Vec<Panel>,
}

/// The log's lines as JSON objects, or an error naming the file and line.
fn parse(log: &Path, text: &str) -> Result<Vec<Map<String, Value>>, Error> {
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: String| Error::format(log, Some(format!("line {}", n + 1)), why);
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => lines.push(m),
            Ok(_) => return Err(bad("expected a JSON object, as `train --log` writes".into())),
            Err(e) => return Err(bad(format!("expected a JSON object, as `train --log` writes ({e})"))),
        }
    }
    Ok(lines)
}

/// The lines of the run `id`, or of the log's last run; logs of versions
/// without run ids count a run from each epoch 1.
fn pick_run(log: &Path, lines: Vec<Map<String, Value>>, id: Option<&str>) -> Result<Vec<Map<String, Value>>, Error> {
    let ids: Vec<&str> = lines.iter().filter_map(|l| l.get("run").and_then(Value::as_str)).collect();
    let want = match (id, ids.last()) {
        (Some(id), _) if ids.contains(&id) => Some(id.to_string()),
        (Some(id), _) => {
            let mut known: Vec<&str> = ids.clone();
            known.dedup();
            let msg = format!("no run {id:?} in the log (its runs: {})", known.join(", "));
            return Err(Error::format(log, None, msg));
        }
        (None, last) => last.map(|s| s.to_string()),
    };
    Ok(match want {
        Some(id) => lines.into_iter().filter(|l| l.get("run").and_then(Value::as_str) == Some(&id)).collect(),
        None => {
            let start = lines.iter().rposition(|l| l.get("epoch").and_then(Value::as_u64) == Some(1)).unwrap_or(0);
            lines.into_iter().skip(start).collect()
        }
    })
}

/// The curves of one run of the log at `log` (`id`, or its last run): loss
/// against epochs, and accuracy (or R²), for the training and the held-out
/// rows.
pub fn read(log: &Path, id: Option<&str>) -> Result<Curves, Error> {
    let text = std::fs::read_to_string(log).map_err(|e| Error::io(log, e))?;
    let lines = pick_run(log, parse(log, &text)?, id)?;
    // The last line of each epoch (a resumed run writes each once).
    let epochs: BTreeMap<u64, &Map<String, Value>> = lines
        .iter()
        .filter(|l| l.contains_key("train_loss"))
        .filter_map(|l| Some((l.get("epoch")?.as_u64()?, l)))
        .collect();
    if epochs.is_empty() {
        return Err(Error::format(log, None, "no epoch lines (with epoch and train_loss) to draw"));
    }
    let held = printable(epochs.values().find_map(|l| l.get("heldout").and_then(Value::as_str)).unwrap_or("held-out"));
    let series = |key: &str, scale: f64| -> Vec<(f64, f64)> {
        let value = |l: &Map<String, Value>| l.get(key).and_then(Value::as_f64).filter(|v| v.is_finite());
        epochs.iter().filter_map(|(&e, l)| Some((e as f64, value(l)? * scale))).collect()
    };
    let panel = |name: &str, metric: &str, scale: f64| {
        let pairs = [
            (format!("train {metric}"), format!("train_{metric}")),
            (format!("{held} {metric}"), format!("heldout_{metric}")),
        ];
        let series = pairs.into_iter().map(|(label, key)| Series { label, points: series(&key, scale) });
        Panel { name: name.to_string(), series: series.filter(|s| !s.points.is_empty()).collect() }
    };
    let mut panels = vec![panel("loss", "loss", 1.0)];
    let metric = [("accuracy (%)", "accuracy", 100.0), ("R²", "r2", 1.0)];
    if let Some(p) = metric.into_iter().map(|(n, m, s)| panel(n, m, s)).find(|p| !p.series.is_empty()) {
        panels.push(p);
    }
    Ok(Curves { title: printable(&title(&lines)), panels })
}

/// `s` with every control character (which XML forbids in an SVG, and a
/// terminal would act on) written as its Rust escape, `\u{1b}`.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// The chart's title: the network and data from the run's first line.
fn title(lines: &[Map<String, Value>]) -> String {
    let Some(first) = lines.iter().find(|l| l.contains_key("started")) else {
        return "training run".to_string();
    };
    let layers = first
        .get("layers")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("-"));
    let data = first
        .get("settings")
        .and_then(|s| s.get("data"))
        .and_then(Value::as_str)
        .and_then(|p| Path::new(p).file_name());
    let mut t = format!("run {}", first.get("run").and_then(Value::as_str).unwrap_or("?"));
    if let Some(l) = layers {
        t += &format!(", {l}");
    }
    if let Some(d) = data {
        t += &format!(" on {}", d.to_string_lossy());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curves(text: &str, id: Option<&str>) -> Result<Curves, Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        std::fs::write(&p, text).unwrap();
        read(&p, id)
    }

    const TWO_RUNS: &str = r#"{"run":"a","started":"t","layers":[4,3,2],"settings":{"data":"/x/d.csv"}}
{"run":"a","epoch":1,"train_loss":2.0,"train_accuracy":0.5,"heldout":"val","heldout_loss":2.5,"heldout_accuracy":0.4}
{"run":"b","started":"t"}
{"run":"a","epoch":2,"train_loss":1.0,"train_accuracy":0.75,"heldout":"val","heldout_loss":null,"heldout_accuracy":0.6}
{"run":"b","epoch":1,"train_loss":9.0,"train_rmse":1.0,"train_r2":0.25}
"#;

    #[test]
    fn draws_the_last_run_or_the_one_named() {
        let b = curves(TWO_RUNS, None).unwrap();
        assert_eq!(b.panels[0].series, vec![Series { label: "train loss".into(), points: vec![(1.0, 9.0)] }]);
        assert_eq!(b.panels[1].name, "R²");
        let a = curves(TWO_RUNS, Some("a")).unwrap();
        assert_eq!(a.title, "run a, 4-3-2 on d.csv");
        // A non-finite (null) loss is left out, accuracy is in percent.
        assert_eq!(a.panels[0].series[1], Series { label: "val loss".into(), points: vec![(1.0, 2.5)] });
        assert_eq!(a.panels[1].series[0].points, vec![(1.0, 50.0), (2.0, 75.0)]);
        let e = curves(TWO_RUNS, Some("c")).unwrap_err().to_string();
        assert!(e.contains("no run \"c\"") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn bad_lines_and_empty_logs_are_errors_naming_the_line() {
        let e = curves("{\"run\":\"a\"}\nnot json\n", None).unwrap_err().to_string();
        assert!(e.contains("log.jsonl") && e.contains("line 2") && e.contains("JSON object"), "{e}");
        let e = curves("{\"run\":\"a\",\"started\":\"t\"}\n", None).unwrap_err().to_string();
        assert!(e.contains("no epoch lines"), "{e}");
    }

    #[test]
    fn logs_without_run_ids_draw_from_the_last_epoch_one() {
        let old =
            "{\"epoch\":1,\"train_loss\":5.0}\n{\"epoch\":1,\"train_loss\":3.0}\n{\"epoch\":2,\"train_loss\":2.0}\n";
        let c = curves(old, None).unwrap();
        assert_eq!(c.panels[0].series[0].points, vec![(1.0, 3.0), (2.0, 2.0)]);
        assert_eq!(c.panels.len(), 1);
    }
}
