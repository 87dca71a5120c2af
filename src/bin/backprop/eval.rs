//! `backprop eval`: score a saved model on labelled data, then report per
//! class (or label, or target) and, for softmax, the confusion matrix.

use crate::common;
use crate::labels::{read_model, scored_options, CsvArgs};
use crate::report::{Report, Scored};
use crate::Failure;
use backprop::data;
use backprop::{Head, Predictor};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The model (safetensors, as `backprop train` saves it)
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Labelled data: CSV, or an MNIST *-images-idx3-ubyte[.gz] file with its labels beside it
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// CSV: the last K columns are targets [default: 1 for softmax, else the model's outputs]
    #[arg(long, value_name = "K", value_parser = common::positive)]
    targets: Option<usize>,
    #[command(flatten)]
    csv: CsvArgs,
    /// Print one JSON object: rows, loss, accuracy or rmse and r2, and the report (classes or labels with precision, recall, f1 and support, and confusion; or targets with rmse, mae and r2)
    #[arg(long)]
    json: bool,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = common::threads)]
    threads: Option<usize>,
    /// Precision of the products' operands (see `train --precision`)
    #[arg(long, value_enum, default_value = "fp32")]
    precision: backprop::Precision,
}

pub fn run(a: EvalArgs) -> Result<(), Failure> {
    let (mlp, names) = read_model(&a.model)?;
    let k = a.targets.unwrap_or_else(|| common::default_targets(mlp.head(), mlp.outputs()));
    let mut ds = data::load_csv_with(&a.data, &scored_options(&a.csv, &names, mlp.encoding(), mlp.inputs()), |_| k)?;
    common::check_features(&ds, &mlp, &a.model)?;
    names.index(&mut ds)?;
    let classes = (mlp.head() == Head::Softmax).then_some(mlp.outputs());
    let (t, outputs) = data::encode_targets(&ds, mlp.head(), classes)?;
    if outputs != mlp.outputs() {
        let msg =
            format!("{outputs} target columns, but the model {} has {} outputs", a.model.display(), mlp.outputs());
        return Err(backprop::Error::format(&a.data, None, msg).into());
    }
    let mut p = Predictor::with_precision(&mlp, a.threads.unwrap_or(0), a.precision)?;
    let data = common::Labeled { x: &ds.x, t: &t, w: ds.weights.as_deref(), rows: ds.rows };
    let (s, y) = common::score_outputs(&mut p, mlp.head(), mlp.outputs(), data)?;
    let shown = if mlp.head() == Head::Softmax { names.classes.as_deref() } else { Some(&names.targets[..]) };
    let report =
        Report::new(mlp.head(), shown, Scored { y: &y, t: &t, w: ds.weights.as_deref(), outputs: mlp.outputs() });
    if a.json {
        let mut m = common::json_scores(&s, "");
        let (key, per) = report.json();
        m.insert(key, per);
        if let Some(c) = report.confusion_json() {
            m.insert("confusion".into(), c);
        }
        common::say(serde_json::Value::Object(m))
    } else {
        common::say(format!("rows {}  {}\n{}", s.rows, common::text_scores(&s, ""), report.text().trim_end()))
    }
}
