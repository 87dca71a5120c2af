//! `backprop inspect`: what `train` would make of a data file (its rows,
//! each column's role, type, missing cells and values, the target and the
//! head it implies, the inputs after encoding), or what a model file holds
//! (its network, inputs, classes, scaling and training settings); as text,
//! or one JSON object with `--json`.

use crate::labels::{csv_options, read_model_metadata, CsvArgs, Names};
use crate::{common, Failure};
use backprop::data::encoding::{Kind, Missing};
use backprop::data::{self, Cells, Column, ColumnSummary, CsvOptions, Dataset};
use backprop::{Head, Mlp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The metadata key of a model's training settings (a JSON object).
pub const TRAINING_KEY: &str = "backprop.training";

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("file").required(true).args(["data", "model"])))]
pub struct InspectArgs {
    /// A data file (CSV, or MNIST IDX): what `train` would make of it
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    data: Option<PathBuf>,
    /// A model file: its network, inputs, classes, scaling and training settings
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// CSV: the last K columns are targets [default: 1]
    #[arg(long, value_name = "K", value_parser = common::positive, requires = "data")]
    targets: Option<usize>,
    #[command(flatten)]
    csv: CsvArgs,
    /// CSV: read this feature column as categories, as `train --categorical`
    #[arg(long, value_name = "NAME|INDEX", requires = "data")]
    categorical: Vec<String>,
    /// CSV: the fills `train --missing` would learn [default: auto, so that every column is described]
    #[arg(long, value_enum, value_name = "HOW", requires = "data")]
    missing: Option<Missing>,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(a: InspectArgs) -> Result<(), Failure> {
    let report = match (&a.data, &a.model) {
        (Some(path), _) => data_report(&a, path)?,
        (None, Some(path)) => model_report(path)?,
        (None, None) => return Err(Failure::usage("inspect needs --data FILE or --model FILE")),
    };
    if a.json {
        common::say(report)
    } else {
        common::say(text(&report))
    }
}

/// What `train` would make of the file at `path`.
fn data_report(a: &InspectArgs, path: &Path) -> Result<Value, Failure> {
    let missing = a.missing.unwrap_or(Missing::Auto);
    let categorical = a.categorical.iter().map(|c| Column::parse(c)).collect();
    let cells = Cells::Learn { categorical, missing, unknown: Default::default() };
    let opts = CsvOptions { cells, ..csv_options(&a.csv) };
    let ds = data::load_csv_with(path, &opts, |_| a.targets.unwrap_or(1))?;
    let missing_cells: usize = ds.columns.iter().map(|c| c.missing).sum();
    let mut columns: Vec<Value> = ds.columns.iter().map(column_json).collect();
    for (i, name) in ds.target_names.iter().enumerate() {
        columns.push(json!({"name": name, "role": "target", "target": i + 1}));
    }
    let needs = if missing_cells > 0 && a.missing.is_none() {
        Some("train stops at the first missing cell unless --missing says how to fill them (auto: the mean of a numeric column, the most frequent category of a text one)")
    } else {
        None
    };
    Ok(json!({
        "file": path.display().to_string(),
        "format": format!("{:?}", data::detect(path)?).to_lowercase(),
        "rows": ds.rows,
        "columns": columns,
        "missing_cells": missing_cells,
        "missing_note": needs,
        "target": target_json(&ds),
        "inputs": ds.features,
    }))
}

/// A feature column's line of the report.
fn column_json(c: &ColumnSummary) -> Value {
    let mut v = json!({"name": c.name, "role": "feature", "type": if c.categorical { "categorical" } else { "numeric" }, "missing": c.missing});
    if c.categorical {
        v["categories"] = json!(c.categories);
    } else if let Some((lo, hi)) = c.range {
        v["range"] = json!([short(lo), short(hi)]);
    }
    v
}

/// The target columns and the head their values imply: softmax for text
/// labels or a few whole-number classes, else linear (logistic for
/// several columns of values in [0, 1]).
fn target_json(ds: &Dataset) -> Value {
    let names = ds.target_names.clone();
    if ds.targets == 0 {
        return Value::Null;
    }
    if let Some(classes) = data::class_names(ds) {
        return json!({"columns": names, "head": "softmax", "classes": classes});
    }
    if let Ok((_, c)) = data::encode_targets(ds, Head::Softmax, None) {
        return json!({"columns": names, "head": "softmax", "classes": c});
    }
    let (lo, hi) = ds.y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let head = if ds.targets > 1 && lo >= 0.0 && hi <= 1.0 { "logistic" } else { "linear" };
    json!({"columns": names, "head": head, "range": [short(lo), short(hi)], "flag": format!("--head {head}")})
}

/// An f32 as the f64 of its shortest decimal (32.1, not 32.099998474121094).
fn short(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// A JSON number as its shortest decimal (2007, 32.1).
fn num(v: &Value) -> String {
    v.as_f64().map_or_else(|| v.to_string(), |x| (x as f32).to_string())
}

/// What the model file at `path` holds.
fn model_report(path: &Path) -> Result<Value, Failure> {
    let (mlp, names, meta) = read_model_metadata(path)?;
    let training = meta.get(TRAINING_KEY).and_then(|t| serde_json::from_str::<Value>(t).ok());
    Ok(json!({
        "file": path.display().to_string(),
        "layers": mlp.sizes(),
        "activation": mlp.activation().name(),
        "head": mlp.head().name(),
        "parameters": mlp.params().len(),
        "inputs": inputs_json(&mlp, &names),
        "classes": names.classes,
        "targets": names.targets,
        "scaling": scaling_json(&mlp),
        "training": training,
    }))
}

/// The model's input columns: from its encoding, else its feature names.
fn inputs_json(mlp: &Mlp, names: &Names) -> Value {
    let Some(enc) = mlp.encoding() else {
        return json!(names.features.iter().map(|n| json!({"name": n, "type": "numeric"})).collect::<Vec<_>>());
    };
    let cols: Vec<Value> = enc
        .columns
        .iter()
        .map(|c| match &c.kind {
            Kind::Numeric { fill } => json!({"name": c.name, "type": "numeric", "fill": fill.map(short)}),
            Kind::Categorical { categories, fill } => {
                json!({"name": c.name, "type": "categorical", "categories": categories, "fill": fill})
            }
        })
        .collect();
    json!(cols)
}

/// What the model standardises.
fn scaling_json(mlp: &Mlp) -> Value {
    let s = mlp.scaling();
    let part = |p: &Option<backprop::model::Standardizer>| p.as_ref().map(|s| json!({"mean": s.mean, "std": s.std}));
    json!({"inputs": part(&s.inputs), "targets": part(&s.targets)})
}

/// The report as lines of text.
fn text(r: &Value) -> String {
    let mut out = Vec::new();
    if r.get("rows").is_some() {
        data_text(r, &mut out);
    } else {
        model_text(r, &mut out);
    }
    out.join("\n")
}

fn data_text(r: &Value, out: &mut Vec<String>) {
    out.push(format!(
        "{}: {} rows ({})",
        r["file"].as_str().unwrap_or(""),
        r["rows"],
        r["format"].as_str().unwrap_or("")
    ));
    if r["columns"].as_array().is_none_or(Vec::is_empty) {
        out.push(format!("  no named columns: {} inputs a row", r["inputs"]));
    } else {
        out.push(format!("  {:<24} {:<12} {:>8}  values", "column", "type", "missing"));
    }
    for c in r["columns"].as_array().into_iter().flatten() {
        let kind = if c["role"] == "target" { "target" } else { c["type"].as_str().unwrap_or("") };
        let values = match (c.get("categories"), c.get("range")) {
            (Some(cats), _) => list(cats, 8),
            (_, Some(range)) => format!("{} … {}", num(&range[0]), num(&range[1])),
            _ => String::new(),
        };
        let missing = c.get("missing").map_or(String::new(), Value::to_string);
        out.push(format!("  {:<24} {:<12} {:>8}  {values}", c["name"].as_str().unwrap_or(""), kind, missing));
    }
    let t = &r["target"];
    if !t.is_null() {
        let what = match (&t["classes"], &t["range"]) {
            (Value::Array(c), _) => format!("{} classes: {}", c.len(), list(&t["classes"], 10)),
            (Value::Number(n), _) => format!("{n} classes, 0 … {}", n.as_u64().unwrap_or(1).saturating_sub(1)),
            (_, range) => {
                format!(
                    "values {} … {}; train needs {}",
                    num(&range[0]),
                    num(&range[1]),
                    t["flag"].as_str().unwrap_or("")
                )
            }
        };
        let names = match list(&t["columns"], 4) {
            n if n.is_empty() => "(unnamed)".to_string(),
            n => n,
        };
        out.push(format!("target: {names} → {} head, {what}", t["head"].as_str().unwrap_or("")));
    }
    out.push(format!("inputs after encoding: {}", r["inputs"]));
    if let Some(note) = r["missing_note"].as_str() {
        out.push(format!("missing cells: {}; {note}", r["missing_cells"]));
    }
}

fn model_text(r: &Value, out: &mut Vec<String>) {
    let layers: Vec<String> = r["layers"].as_array().into_iter().flatten().map(Value::to_string).collect();
    out.push(format!(
        "{}: {} network, {} hidden units, {} head, {} parameters",
        r["file"].as_str().unwrap_or(""),
        layers.join("-"),
        r["activation"].as_str().unwrap_or(""),
        r["head"].as_str().unwrap_or(""),
        r["parameters"]
    ));
    let inputs = r["inputs"].as_array().cloned().unwrap_or_default();
    if !inputs.is_empty() {
        out.push(format!("inputs ({} columns):", inputs.len()));
        for c in &inputs {
            let fill = match &c["fill"] {
                Value::Null => String::new(),
                Value::String(f) => format!("  missing → {f}"),
                f => format!("  missing → {}", num(f)),
            };
            let cats = c.get("categories").map_or(String::new(), |k| format!(" {}", list(k, 8)));
            out.push(format!(
                "  {:<24} {}{cats}{fill}",
                c["name"].as_str().unwrap_or(""),
                c["type"].as_str().unwrap_or("")
            ));
        }
    }
    if let Value::Array(_) = r["classes"] {
        out.push(format!("classes: {}", list(&r["classes"], 20)));
    }
    let scaled = |k: &str| !r["scaling"][k].is_null();
    out.push(format!(
        "scaling: inputs {}, targets {}",
        if scaled("inputs") { "standardised" } else { "as given" },
        if scaled("targets") { "standardised" } else { "as given" }
    ));
    if let Value::Object(t) = &r["training"] {
        let pairs: Vec<String> = t.iter().map(|(k, v)| format!("{}={v}", k.replace('_', "-"))).collect();
        out.push(format!("training: {}", pairs.join(" ")));
    }
}

/// Up to `n` items of a JSON list, comma-separated.
fn list(v: &Value, n: usize) -> String {
    let items: Vec<String> =
        v.as_array().into_iter().flatten().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect();
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s += &format!(", … ({} in all)", items.len());
    }
    s
}
