//! The data of a run: training rows with encoded targets, and the held-out
//! rows (a test file or a seeded validation split).

use super::config::{Held, RunConfig};
use crate::Failure;
use backprop::data;
use backprop::Head;
use std::path::Path;

/// Inputs and encoded targets.
pub struct Split {
    pub x: Vec<f32>,
    pub t: Vec<f32>,
    pub rows: usize,
}

/// The training rows, the held-out rows, the feature count and the output
/// count of a run. `outputs` is the model's when it is known (from --init
/// or a checkpoint), which fixes the softmax class count.
pub fn load(c: &RunConfig, outputs: Option<usize>) -> Result<(Split, Option<Split>, usize, usize), Failure> {
    let ds = data::load(&c.data, c.targets)?;
    let classes = c.classes.or(outputs.filter(|_| c.head == Head::Softmax));
    let (t, outputs) = data::encode_targets(&ds, c.head, classes)?;
    let features = ds.features;
    let mut train = Split { x: ds.x, t, rows: ds.rows };
    let held = match c.held() {
        Held::Test(p) => Some(held_out(&p, c, outputs, features)?),
        Held::Val(f) => Some(split_off(&mut train, f, features, outputs, c.seed)?),
        Held::None => None,
    };
    Ok((train, held, features, outputs))
}

fn held_out(path: &Path, c: &RunConfig, outputs: usize, features: usize) -> Result<Split, Failure> {
    let ds = data::load(path, c.targets)?;
    if ds.features != features {
        let msg = format!("{} features per row, but the training data has {features}", ds.features);
        return Err(backprop::Error::format(path, None, msg).into());
    }
    let classes = (c.head == Head::Softmax).then_some(outputs);
    let (t, o) = data::encode_targets(&ds, c.head, classes)?;
    if o != outputs {
        let msg = format!("{o} target columns, but the training data has {outputs}");
        return Err(backprop::Error::format(path, None, msg).into());
    }
    Ok(Split { x: ds.x, t, rows: ds.rows })
}

/// Moves a seeded `fraction` of the rows of `train` into a validation split;
/// the rows kept stay in file order.
fn split_off(train: &mut Split, fraction: f64, f: usize, o: usize, seed: u64) -> Result<Split, Failure> {
    let n = train.rows;
    if n < 2 {
        return Err(Failure::usage("--val-split needs at least two rows of training data"));
    }
    let (keep, val) = data::validation_split(n, fraction, seed)?;
    let take = |rows: &[usize]| Split {
        x: rows.iter().flat_map(|&r| &train.x[r * f..(r + 1) * f]).copied().collect(),
        t: rows.iter().flat_map(|&r| &train.t[r * o..(r + 1) * o]).copied().collect(),
        rows: rows.len(),
    };
    let (kept, held) = (take(&keep), take(&val));
    *train = kept;
    Ok(held)
}
