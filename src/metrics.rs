//! Scores of a head's outputs against targets, accumulated batch by batch:
//! the mean error, and accuracy (softmax: argmax; logistic: the rows whose
//! every output, thresholded at 0.5, is right, scikit-learn's subset
//! accuracy, and the fraction of right outputs) or RMSE and R² (linear and
//! Poisson; R² averaged over the output columns, as scikit-learn's
//! `r2_score` does). The targets' spread for R² is Welford's running mean
//! and sum of squared deviations, exact where `Σt² - (Σt)²/n` cancels
//! (targets far from zero, close together).
//!
//! Rows may carry weights (scikit-learn's `sample_weight`): every score is
//! then the weighted one (the weighted mean error, the weight of the right
//! rows over the total, weighted RMSE and R², West's weighted Welford
//! update). A row of weight 1 adds exactly what an unweighted row adds.

use crate::head::Head;

/// Running sums for [`Scores`]. Serializable, so that a checkpoint can
/// carry an epoch's partial scores.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    head: Head,
    outputs: usize,
    rows: usize,
    /// `Σ w`, once a row's weight was not 1 (else every row weighs 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<f64>,
    /// `Σ w·E`.
    loss: f64,
    /// Weight of the right rows (softmax), of the right outputs (logistic).
    hits: f64,
    /// Weight of the rows with every output right (logistic).
    #[serde(default)]
    row_hits: f64,
    /// Per output (regression only): `Σ w (y - t)²`.
    sq_err: Vec<f64>,
    /// Per output (regression only): the running weighted mean of t.
    t_mean: Vec<f64>,
    /// Per output (regression only): `Σ w (t - mean)²`, by Welford's update.
    t_m2: Vec<f64>,
}

/// The scores of a set of rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Rows scored.
    pub rows: usize,
    /// Mean error per row.
    pub loss: f64,
    /// Fraction of rows right, classifiers only (logistic: every output
    /// of the row right, scikit-learn's subset accuracy).
    pub accuracy: Option<f64>,
    /// Fraction of outputs right, logistic only (1 − Hamming loss).
    pub label_accuracy: Option<f64>,
    /// Root mean squared error over every output, linear only.
    pub rmse: Option<f64>,
    /// Coefficient of determination, linear only.
    pub r2: Option<f64>,
}

/// The index of the largest value (the first of equal ones; 0 when empty):
/// a softmax row's class.
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

impl Metrics {
    /// Empty sums for a head with `outputs` outputs.
    pub fn new(head: Head, outputs: usize) -> Self {
        let zeros = || if head.is_regression() { vec![0.0; outputs] } else { Vec::new() };
        let (sq_err, t_mean, t_m2) = (zeros(), zeros(), zeros());
        Metrics { head, outputs, rows: 0, weight: None, loss: 0.0, hits: 0.0, row_hits: 0.0, sq_err, t_mean, t_m2 }
    }

    /// Adds one row: its outputs `y`, targets `t` and error.
    pub fn add_row(&mut self, y: &[f32], t: &[f32], loss: f32) {
        self.add_weighted_row(y, t, loss, 1.0);
    }

    /// Adds one row of weight `w` (finite, ≥ 0).
    pub fn add_weighted_row(&mut self, y: &[f32], t: &[f32], loss: f32, w: f32) {
        let before = self.total();
        self.rows += 1;
        if w != 1.0 || self.weight.is_some() {
            self.weight = Some(before + w as f64);
        }
        let (w, total) = (w as f64, self.total());
        self.loss += w * loss as f64;
        match self.head {
            Head::Softmax => self.hits += if argmax(y) == argmax(t) { w } else { 0.0 },
            Head::Logistic => {
                let right = y.iter().zip(t).filter(|(&y, &t)| (y > 0.5) == (t > 0.5)).count();
                self.hits += w * right as f64;
                self.row_hits += if right == y.len() { w } else { 0.0 };
            }
            Head::Linear | Head::Poisson if total > 0.0 => {
                for (j, (&y, &t)) in y.iter().zip(t).enumerate() {
                    let (y, t) = (y as f64, t as f64);
                    self.sq_err[j] += w * ((y - t) * (y - t));
                    let d = t - self.t_mean[j];
                    self.t_mean[j] += w * d / total;
                    self.t_m2[j] += w * (d * (t - self.t_mean[j]));
                }
            }
            Head::Linear | Head::Poisson => {}
        }
    }

    /// `Σ w` of the rows added (their count, unweighted).
    fn total(&self) -> f64 {
        self.weight.unwrap_or(self.rows as f64)
    }

    /// Adds a batch: `y` and `t` are rows × outputs, `loss` one error a
    /// row, `weights` one weight a row (or 1 each).
    pub fn add_batch(&mut self, y: &[f32], t: &[f32], loss: &[f32], weights: Option<&[f32]>) {
        let o = self.outputs;
        for (r, ((y, t), &l)) in y.chunks_exact(o).zip(t.chunks_exact(o)).zip(loss).enumerate() {
            self.add_weighted_row(y, t, l, weights.map_or(1.0, |w| w[r]));
        }
    }

    /// Rows added so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// What the sums are divided by: `Σ w`, or 1 when that is 0 (the scores
    /// of no rows, or of rows of no weight, are 0).
    fn total_or_one(&self) -> f64 {
        Some(self.total()).filter(|&t| t > 0.0).unwrap_or(1.0)
    }

    /// Whether these sums fit a head with `outputs` outputs (a check for
    /// sums read back from a file).
    pub fn fits(&self, head: Head, outputs: usize) -> bool {
        let per = if head.is_regression() { outputs } else { 0 };
        self.head == head
            && self.outputs == outputs
            && [&self.sq_err, &self.t_mean, &self.t_m2].iter().all(|v| v.len() == per)
    }

    /// Linear only: each output's RMSE and R² so far (for constant targets,
    /// R² is 1 when fitted exactly and 0 otherwise, as scikit-learn's
    /// default `force_finite=True` gives); empty for the other heads.
    pub fn per_output(&self) -> Vec<(f64, f64)> {
        let n = self.total_or_one();
        let r2 = |sq: f64, ss_tot: f64| {
            if ss_tot > 0.0 {
                1.0 - sq / ss_tot
            } else if sq == 0.0 {
                1.0
            } else {
                0.0
            }
        };
        self.sq_err.iter().zip(&self.t_m2).map(|(&sq, &ss)| ((sq / n).sqrt(), r2(sq, ss))).collect()
    }

    /// The scores so far.
    pub fn scores(&self) -> Scores {
        let n = self.total_or_one();
        let mut s =
            Scores { rows: self.rows, loss: self.loss / n, accuracy: None, label_accuracy: None, rmse: None, r2: None };
        match self.head {
            Head::Softmax => s.accuracy = Some(self.hits / n),
            Head::Logistic => {
                s.accuracy = Some(self.row_hits / n);
                s.label_accuracy = Some(self.hits / (n * self.outputs as f64));
            }
            Head::Linear | Head::Poisson => {
                let total: f64 = self.sq_err.iter().sum();
                s.rmse = Some((total / (n * self.outputs as f64)).sqrt());
                let r2: f64 = self.per_output().iter().map(|&(_, r2)| r2).sum();
                s.r2 = Some(r2 / self.outputs as f64);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_rmse_and_r2() {
        let mut m = Metrics::new(Head::Softmax, 3);
        m.add_batch(&[0.1, 0.7, 0.2, 0.5, 0.3, 0.2], &[0., 1., 0., 0., 0., 1.], &[1.0, 3.0], None);
        let s = m.scores();
        assert_eq!((s.rows, s.loss, s.accuracy), (2, 2.0, Some(0.5)));

        // Row 1 all right, row 2 one output of two: subset 1/2, labels 3/4.
        let mut m = Metrics::new(Head::Logistic, 2);
        m.add_batch(&[0.9, 0.2, 0.6, 0.7], &[1., 0., 0., 1.], &[0.0, 0.0], None);
        assert_eq!((m.scores().accuracy, m.scores().label_accuracy), (Some(0.5), Some(0.75)));

        // y = t + (±1): SSres = 4, t = 0,2,4,6: mean 3, SStot = 20.
        let mut m = Metrics::new(Head::Linear, 1);
        m.add_batch(&[1., 1., 5., 5.], &[0., 2., 4., 6.], &[0.5; 4], None);
        let s = m.scores();
        assert_eq!(s.rmse, Some(1.0));
        assert!((s.r2.unwrap() - 0.8).abs() < 1e-12);
        let back: Metrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!((back.scores(), back.fits(Head::Linear, 1), back.fits(Head::Linear, 2)), (s, true, false));
    }

    /// Targets near 1e7 that differ by 0..3: `Σt² - (Σt)²/n` loses every
    /// digit (it reported R² = 0.984 here); Welford's sums give the truth.
    /// A constant prediction of 1e7 + 2 against t = 1e7 + (i mod 4):
    /// SS_tot = n·1.25, SS_res = n·1.5, R² = 1 - 1.5/1.25 = -0.2.
    #[test]
    fn r2_is_exact_for_targets_far_from_zero() {
        let n = 100_000;
        let t: Vec<f32> = (0..n).map(|i| 1e7 + (i % 4) as f32).collect();
        let y = vec![1e7f32 + 2.0; n];
        let mut m = Metrics::new(Head::Linear, 1);
        m.add_batch(&y, &t, &vec![0.0; n], None);
        let r2 = m.scores().r2.unwrap();
        assert!((r2 - (-0.2)).abs() < 1e-9, "R² = {r2}");
    }
}
