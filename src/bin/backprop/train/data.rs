//! The data of a run: training rows with encoded targets, and the held-out
//! rows (a test file or a seeded validation split).

use super::config::{Held, RunConfig};
use crate::labels::{self, CsvArgs, Names};
use crate::Failure;
use backprop::data::{self, Cells, Encoding};
use backprop::Head;
use std::path::Path;

/// Inputs, encoded targets and, with `--weight-column`, row weights.
pub struct Split {
    pub x: Vec<f32>,
    pub t: Vec<f32>,
    pub w: Option<Vec<f32>>,
    pub rows: usize,
}

/// The data a run trains on: the training rows, the held-out rows, the
/// features and outputs a row, and the names of the columns and classes.
pub struct RunData {
    pub train: Split,
    pub held: Option<Split>,
    pub features: usize,
    pub outputs: usize,
    pub names: Names,
    /// How the feature columns became inputs, when not as plain numbers.
    pub encoding: Option<Encoding>,
}

/// The data of a run. `outputs` is the model's when it is known (from
/// --init or a checkpoint), which fixes the softmax class count, `classes`
/// its class names, which fix how text labels map to classes, and
/// `encoding` how its inputs come from the columns (else they are learned
/// from the training rows).
pub fn load(
    c: &RunConfig,
    outputs: Option<usize>,
    classes: Option<Vec<String>>,
    encoding: Option<Encoding>,
) -> Result<RunData, Failure> {
    let categorical = c.categorical.iter().map(|s| data::Column::parse(s)).collect();
    let learn = Cells::Learn { categorical, missing: c.missing, unknown: c.unknown_category };
    let mut ds = read(&c.data, c, encoding.map_or(learn, Cells::Model))?;
    let encoding = ds.encoding.clone();
    let names = Names::of_training(&mut ds, c.head, classes)?;
    let count = names.classes.as_ref().map(Vec::len).or(c.classes).or(outputs.filter(|_| c.head == Head::Softmax));
    let (t, outputs) = data::encode_targets(&ds, c.head, count)?;
    let features = ds.features;
    if ds.weights.as_ref().is_some_and(|w| w.iter().all(|&v| v == 0.0)) {
        let msg = "every row weight is 0, so there is nothing to learn; give some rows a weight above 0";
        return Err(backprop::Error::format(&ds.path, None, msg).into());
    }
    let mut train = Split { x: ds.x, t, w: ds.weights, rows: ds.rows };
    let held = match c.held() {
        Held::Test(p) => Some(held_out(&p, c, &names, &train, encoding.as_ref())?),
        Held::Val(f) => Some(split_off(&mut train, f, c.seed)?),
        Held::None => None,
    };
    Ok(RunData { train, held, features, outputs, names, encoding })
}

/// A data file of the run, its target columns as the flags say, its
/// feature cells as `cells` says.
fn read(path: &Path, c: &RunConfig, cells: Cells) -> Result<data::Dataset, Failure> {
    let args = CsvArgs {
        target: c.target.clone(),
        delimiter: c.delimiter,
        weight_column: c.weight_column.clone(),
        unknown_category: None,
    };
    let opts = data::CsvOptions { cells, ..labels::csv_options(&args) };
    Ok(data::load_csv_with(path, &opts, |_| c.targets)?)
}

/// The held-out rows of the file at `path`, which must have as many
/// features and outputs a row as the training rows `train`.
fn held_out(
    path: &Path,
    c: &RunConfig,
    names: &Names,
    train: &Split,
    encoding: Option<&Encoding>,
) -> Result<Split, Failure> {
    let rows = train.rows.max(1);
    let (features, outputs) = (train.x.len() / rows, train.t.len() / rows);
    let mut ds = read(path, c, Cells::Model(names.columns(encoding, features)))?;
    if ds.features != features {
        let msg = format!("{} features per row, but the training data has {features}", ds.features);
        return Err(backprop::Error::format(path, None, msg).into());
    }
    names.index(&mut ds)?;
    let classes = (c.head == Head::Softmax).then_some(outputs);
    let (t, o) = data::encode_targets(&ds, c.head, classes)?;
    if o != outputs {
        let msg = format!("{o} target columns, but the training data has {outputs}");
        return Err(backprop::Error::format(path, None, msg).into());
    }
    Ok(Split { x: ds.x, t, w: ds.weights, rows: ds.rows })
}

/// Moves a seeded `fraction` of the rows of `train` into a validation split;
/// the rows kept stay in file order.
fn split_off(train: &mut Split, fraction: f64, seed: u64) -> Result<Split, Failure> {
    let n = train.rows;
    let (f, o) = (train.x.len() / n.max(1), train.t.len() / n.max(1));
    if n < 2 {
        return Err(Failure::usage("--val-split needs at least two rows of training data"));
    }
    let (keep, val) = data::validation_split(n, fraction, seed)?;
    let take = |rows: &[usize]| Split {
        x: rows.iter().flat_map(|&r| &train.x[r * f..(r + 1) * f]).copied().collect(),
        t: rows.iter().flat_map(|&r| &train.t[r * o..(r + 1) * o]).copied().collect(),
        w: train.w.as_ref().map(|w| rows.iter().map(|&r| w[r]).collect()),
        rows: rows.len(),
    };
    let (kept, held) = (take(&keep), take(&val));
    *train = kept;
    Ok(held)
}
