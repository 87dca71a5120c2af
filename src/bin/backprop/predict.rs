//! `backprop predict`: a saved model's outputs for each row, as CSV.

use crate::common;
use crate::files::{check_writable, refuse_clobbering};
use crate::labels::{read_model, scored_options, CsvArgs, Names};
use crate::Failure;
use backprop::data;
use backprop::model::write_atomic;
use backprop::{Head, Mlp, Predictor};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// The model (safetensors, as `backprop train` saves it)
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Input data: CSV, or an MNIST *-images-idx3-ubyte[.gz] file
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// CSV: the last K columns are targets, ignored here [default: 0 when the column count equals the
    /// model's inputs, else as for eval]
    #[arg(long, value_name = "K")]
    targets: Option<usize>,
    #[command(flatten)]
    csv: CsvArgs,
    /// Write the CSV here (atomically) instead of to standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = common::threads)]
    threads: Option<usize>,
}

/// The CSV: a header, then per row the predicted class and the
/// probabilities (softmax), each output's label thresholded at 0.5 and
/// its probability `p_…` (logistic), or the outputs (linear); columns named
/// after the classes or target columns of the training data when the model
/// keeps their names.
fn render(mlp: &Mlp, names: &Names, y: &[f32]) -> csv::Result<Vec<u8>> {
    let (o, head) = (mlp.outputs(), mlp.head());
    let mut w = csv::Writer::from_writer(Vec::with_capacity(y.len() * 12));
    let given = if head == Head::Softmax { names.classes.clone().unwrap_or_default() } else { names.targets.clone() };
    let columns: Vec<String> = if given.len() == o { given } else { (0..o).map(|j| format!("y{j}")).collect() };
    match head {
        Head::Softmax => w.write_record(std::iter::once("class").chain(columns.iter().map(String::as_str)))?,
        Head::Logistic => w.write_record(columns.iter().cloned().chain(columns.iter().map(|c| format!("p_{c}"))))?,
        Head::Linear => w.write_record(&columns)?,
    }
    let mut cells = Vec::with_capacity(2 * o + 1);
    for row in y.chunks_exact(o) {
        cells.clear();
        match head {
            Head::Softmax => {
                let class = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
                cells.push(names.classes.as_ref().map_or_else(|| class.to_string(), |c| c[class].clone()));
            }
            Head::Logistic => cells.extend(row.iter().map(|&p| u8::from(p > 0.5).to_string())),
            Head::Linear => {}
        }
        // Shortest round-trip form, in exponent notation when far from 1.
        cells.extend(row.iter().map(|v| format!("{v:?}")));
        w.write_record(&cells)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

pub fn run(a: PredictArgs) -> Result<(), Failure> {
    if let Some(out) = &a.out {
        refuse_clobbering(&[("--data", &a.data), ("--model", &a.model)], &[("--out", out)])?;
        check_writable("--out", out)?;
    }
    let (mlp, names) = read_model(&a.model)?;
    let (inputs, default) = (mlp.inputs(), common::default_targets(mlp.head(), mlp.outputs()));
    let ds = data::load_csv_with(&a.data, &scored_options(&a.csv, &names), |columns| match a.targets {
        Some(k) => k,
        None if columns == inputs => 0,
        None => default,
    })?;
    common::check_features(&ds, &mlp, &a.model)?;
    let mut y = backprop::mem::zeros(backprop::mem::product(ds.rows, mlp.outputs(), "outputs")?, "outputs")?;
    Predictor::with_threads(&mlp, a.threads.unwrap_or(0))?.predict(&ds.x, ds.rows, &mut y)?;
    let csv = render(&mlp, &names, &y).map_err(|e| backprop::Error::config("predictions", e.to_string()))?;
    match &a.out {
        Some(p) => write_atomic(p, &csv)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&csv).and_then(|()| out.flush())?;
        }
    }
    Ok(())
}
