//! Standardisation that travels with a model: `z = (v - mean) / std` per
//! column of the inputs (and, for the linear head, of the targets), with the
//! mean and the standard deviation of the training rows, as scikit-learn's
//! `StandardScaler` computes them (population deviation, `ddof = 0`; a
//! constant column gets `std = 1`, so it maps to 0).
//!
//! The network itself works in standardised units: a [`Predictor`] scales
//! the inputs it is given and un-scales the outputs (`y = y'·std + mean`), so
//! callers of `eval`, `predict`, the [`Predictor`] and the C ABI pass and get
//! raw values. The model file keeps the vectors as the tensors
//! `scaling.inputs.mean`, `scaling.inputs.std`, `scaling.targets.mean` and
//! `scaling.targets.std`.
//!
//! [`Predictor`]: super::Predictor

use crate::error::{Error, Result};

/// Per-column mean and standard deviation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Column means.
    pub mean: Vec<f32>,
    /// Column standard deviations, each finite and > 0.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// The mean and population standard deviation of each of the `cols`
    /// columns of `v` (rows × cols, row-major), summed in f64 in two
    /// passes; a column whose deviation is 0 (or too small to divide by)
    /// gets 1. Errors when `v` holds no row or a non-finite value.
    pub fn fit(v: &[f32], cols: usize) -> Result<Standardizer> {
        Standardizer::fit_weighted(v, cols, None)
    }

    /// [`fit`](Self::fit) with a weight for each row (finite, ≥ 0, not all
    /// 0; `None`: 1 each): the weighted mean and population deviation, as
    /// `StandardScaler.fit(X, sample_weight=w)`, so that a row of weight 0
    /// counts as no row and a row of weight k as k rows.
    pub fn fit_weighted(v: &[f32], cols: usize, weights: Option<&[f32]>) -> Result<Standardizer> {
        let rows = v.len().checked_div(cols).unwrap_or(0);
        if rows == 0 || rows * cols != v.len() {
            return Err(Error::shape("standardised data", format!("rows × {cols} values, at least one row"), v.len()));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::non_finite(format!(
                "value {} of column {} (standardising)",
                i / cols + 1,
                i % cols + 1
            )));
        }
        let weight = |r: usize| weights.map_or(1.0, |w| f64::from(w[r]));
        let total = match weights {
            None => rows as f64,
            Some(w) if w.len() == rows => w.iter().fold(0.0, |acc, &v| acc + f64::from(v)),
            Some(w) => return Err(Error::shape("row weights", format!("{rows} values, one a row"), w.len())),
        };
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::config("row weights", "standardising needs weights that sum to a finite number > 0"));
        }
        let mut sum = vec![0.0f64; cols];
        for (r, row) in v.chunks_exact(cols).enumerate() {
            sum.iter_mut().zip(row).for_each(|(s, &x)| *s += weight(r) * f64::from(x));
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / total).collect();
        let mut sq = vec![0.0f64; cols];
        for (r, row) in v.chunks_exact(cols).enumerate() {
            sq.iter_mut().zip(row).zip(&mean).for_each(|((s, &x), m)| *s += weight(r) * (f64::from(x) - m).powi(2));
        }
        let std = sq
            .iter()
            .map(|s| (s / total).sqrt() as f32)
            .map(|d| if d.is_normal() && (1.0 / d).is_finite() { d } else { 1.0 })
            .collect();
        Ok(Standardizer { mean: mean.iter().map(|&m| m as f32).collect(), std })
    }

    /// Columns it scales.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether it scales no column.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Checks that it has `cols` columns of finite means and finite
    /// deviations > 0; `what` names it in the error.
    pub fn check(&self, cols: usize, what: &str) -> Result<()> {
        if self.mean.len() != cols || self.std.len() != cols {
            return Err(Error::shape(
                what,
                cols,
                format!("{} means and {} deviations", self.mean.len(), self.std.len()),
            ));
        }
        if let Some(j) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::non_finite(format!("{what}: mean of column {}", j + 1)));
        }
        if let Some(j) = self.std.iter().position(|d| !(d.is_finite() && *d > 0.0)) {
            return Err(Error::config(what, format!("the deviation of column {} is {}, not > 0", j + 1, self.std[j])));
        }
        Ok(())
    }

    /// `v ← (v - mean) / std` for every row of `v` in place.
    pub fn apply(&self, v: &mut [f32]) {
        for row in v.chunks_exact_mut(self.len()) {
            row.iter_mut().zip(self.mean.iter().zip(&self.std)).for_each(|(x, (m, d))| *x = (*x - m) / d);
        }
    }

    /// `v ← v·std + mean` for every row of `v` in place: [`apply`](Self::apply)
    /// undone.
    pub fn unapply(&self, v: &mut [f32]) {
        for row in v.chunks_exact_mut(self.len()) {
            row.iter_mut().zip(self.mean.iter().zip(&self.std)).for_each(|(y, (m, d))| *y = *y * d + m);
        }
    }
}

/// What a model standardises: its inputs, and (linear head only) its
/// targets. `Default` is neither, a plain network.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaling {
    /// Applied to every input row before the first layer.
    pub inputs: Option<Standardizer>,
    /// The targets' scaling: the network's outputs are un-scaled by it.
    pub targets: Option<Standardizer>,
}

impl Scaling {
    /// The metadata value naming what is scaled: `inputs`, `targets`,
    /// `inputs,targets`, or `None` when nothing is.
    pub fn name(&self) -> Option<&'static str> {
        match (self.inputs.is_some(), self.targets.is_some()) {
            (true, true) => Some("inputs,targets"),
            (true, false) => Some("inputs"),
            (false, true) => Some("targets"),
            (false, false) => None,
        }
    }
}
