//! `backprop predict`: a saved model's outputs for each row, as CSV.

use crate::common;
use crate::files::{check_writable, refuse_clobbering};
use crate::labels::{read_model, scored_options, CsvArgs, Names};
use crate::Failure;
use backprop::data::{self, Column, CsvOptions, Dataset};
use backprop::model::write_atomic;
use backprop::{Head, Mlp, Predictor};
use std::io::Write as _;
use std::path::{Path, PathBuf};

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
    /// CSV: a column (by header name or position from 1) passed through as the first output column, not a feature
    #[arg(long, value_name = "NAME|INDEX")]
    id_column: Option<String>,
    /// Copy the true target values into columns `true_…` after the predictions (the data must hold targets)
    #[arg(long)]
    with_targets: bool,
    /// Write the CSV here (a regular file atomically, a device or FIFO through; `-` is standard output) instead of to standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = common::threads)]
    threads: Option<usize>,
    /// Precision of the products' operands (see `train --precision`)
    #[arg(long, value_enum, default_value = "fp32")]
    precision: backprop::Precision,
}

/// Columns around the predictions: an id column first (its name and
/// cells), the true targets after (their names, and per row their cells).
#[derive(Default)]
struct Around {
    id: Option<(String, Vec<String>)>,
    truth: Option<(Vec<String>, Vec<Vec<String>>)>,
}

/// The CSV: a header, then per row the id (with `--id-column`); the
/// predicted class and the probabilities (softmax), each output's label
/// thresholded at 0.5 and its probability `p_…` (logistic), or the outputs
/// (linear; the rates for Poisson), columns named after the classes or target columns of the
/// training data when the model keeps their names; then the true targets
/// (with `--with-targets`).
fn render(mlp: &Mlp, names: &Names, y: &[f32], around: &Around) -> csv::Result<Vec<u8>> {
    let (o, head) = (mlp.outputs(), mlp.head());
    let mut w = csv::Writer::from_writer(Vec::with_capacity(y.len() * 12));
    let given = if head == Head::Softmax { names.classes.clone().unwrap_or_default() } else { names.targets.clone() };
    let columns: Vec<String> = if given.len() == o { given } else { (0..o).map(|j| format!("y{j}")).collect() };
    let mut header: Vec<String> = around.id.iter().map(|(n, _)| n.clone()).collect();
    match head {
        Head::Softmax => header.extend(std::iter::once("class".to_string()).chain(columns.iter().cloned())),
        Head::Logistic => header.extend(columns.iter().cloned().chain(columns.iter().map(|c| format!("p_{c}")))),
        Head::Linear | Head::Poisson => header.extend(columns.iter().cloned()),
    }
    header.extend(around.truth.iter().flat_map(|(n, _)| n.iter().map(|n| format!("true_{n}"))));
    w.write_record(&header)?;
    let mut cells = Vec::with_capacity(2 * o + 3);
    for (r, row) in y.chunks_exact(o).enumerate() {
        cells.clear();
        cells.extend(around.id.iter().map(|(_, ids)| ids[r].clone()));
        match head {
            Head::Softmax => {
                let class = backprop::metrics::argmax(row);
                cells.push(names.classes.as_ref().map_or_else(|| class.to_string(), |c| c[class].clone()));
            }
            Head::Logistic => cells.extend(row.iter().map(|&p| u8::from(p > 0.5).to_string())),
            Head::Linear | Head::Poisson => {}
        }
        // Shortest round-trip form, in exponent notation when far from 1.
        cells.extend(row.iter().map(|v| format!("{v:?}")));
        cells.extend(around.truth.iter().flat_map(|(_, t)| t[r].iter().cloned()));
        w.write_record(&cells)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The id column and the true targets the flags ask for, from the data.
fn around(a: &PredictArgs, ds: &Dataset, head: Head) -> Result<Around, Failure> {
    let bad = |msg: &str| Failure::from(backprop::Error::format(&ds.path, None, msg.to_string()));
    let id = match (&a.id_column, &ds.ids) {
        (None, _) => None,
        (Some(_), None) => return Err(bad("--id-column needs CSV data")),
        (Some(c), Some(ids)) => {
            // Named as the flag named it; a column by position is `id`.
            let name = match Column::parse(c) {
                Column::Name(n) => n,
                Column::Positions(_) => "id".to_string(),
            };
            Some((name, ids.clone()))
        }
    };
    let truth = if a.with_targets {
        if ds.targets == 0 {
            return Err(bad("--with-targets: the data holds no target columns (give --targets K or --target)"));
        }
        let names = if ds.target_names.len() == ds.targets {
            ds.target_names.clone()
        } else if head == Head::Softmax && ds.targets == 1 {
            vec!["class".to_string()]
        } else {
            (0..ds.targets).map(|j| format!("y{j}")).collect()
        };
        let rows = match &ds.labels {
            Some(l) => l.iter().map(|v| vec![v.clone()]).collect(),
            // A class index as an integer, other values in round-trip form.
            None => {
                let cell =
                    |v: &f32| if head == Head::Softmax && v.fract() == 0.0 { format!("{v}") } else { format!("{v:?}") };
                ds.y.chunks_exact(ds.targets).map(|r| r.iter().map(cell).collect()).collect()
            }
        };
        Some((names, rows))
    } else {
        None
    };
    Ok(Around { id, truth })
}

pub fn run(mut a: PredictArgs) -> Result<(), Failure> {
    // `--out -` is standard output, as no --out.
    a.out = a.out.filter(|p| p != Path::new("-"));
    if let Some(out) = &a.out {
        refuse_clobbering(&[("--data", &a.data), ("--model", &a.model)], &[("--out", out)])?;
        check_writable("--out", out)?;
    }
    let (mlp, names) = read_model(&a.model)?;
    // Without --targets, a file of as many columns as the model reads holds no targets.
    let columns_read = mlp.encoding().map_or(mlp.inputs(), |e| e.columns.len());
    let (inputs, default) = (columns_read, common::default_targets(mlp.head(), mlp.outputs()));
    let scored = scored_options(&a.csv, &names, mlp.encoding(), mlp.inputs());
    let opts = CsvOptions { id: a.id_column.as_deref().map(Column::parse), ..scored };
    // IDX labels are read only when asked for: --with-targets asks.
    let idx = a.with_targets && data::detect(&a.data).is_ok_and(|f| f == data::Format::Idx);
    let ds = data::load_csv_with(&a.data, &opts, |columns| match a.targets.or(idx.then_some(1)) {
        Some(k) => k,
        None if columns == inputs => 0,
        None => default,
    })?;
    common::check_features(&ds, &mlp, &a.model)?;
    let around = around(&a, &ds, mlp.head())?;
    let mut y = backprop::mem::zeros(backprop::mem::product(ds.rows, mlp.outputs(), "outputs")?, "outputs")?;
    Predictor::with_precision(&mlp, a.threads.unwrap_or(0), a.precision)?.predict(&ds.x, ds.rows, &mut y)?;
    let csv = render(&mlp, &names, &y, &around).map_err(|e| backprop::Error::config("predictions", e.to_string()))?;
    match &a.out {
        Some(p) => write_atomic(p, &csv)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&csv).and_then(|()| out.flush())?;
        }
    }
    Ok(())
}
