//! `eval`'s detailed report, from the model's outputs and the targets:
//! for softmax, per class precision, recall, F1 and support (scikit-learn's
//! `classification_report`) and the confusion matrix (rows the true class,
//! columns the predicted one, as scikit-learn's `confusion_matrix`); for
//! logistic, the same per label (output > 0.5 against target > 0.5); for
//! linear, per target RMSE, MAE and R² (`r2_score` per column, from the
//! same Welford sums as the summary's [`Metrics`]). With row weights every
//! count, support, confusion cell and error is weighted, as scikit-learn's
//! functions weigh them with `sample_weight`.

use backprop::metrics::{argmax, Metrics};
use backprop::Head;
use serde_json::{json, Value};

/// One class's (or label's) counts (weights, with row weights): true
/// positives, predicted positives, actual positives.
#[derive(Clone, Copy, Default)]
struct Counts {
    tp: f64,
    predicted: f64,
    actual: f64,
}

impl Counts {
    /// Precision, recall and F1; 0 where a denominator is 0, as
    /// scikit-learn's `zero_division=0`.
    fn prf(&self) -> (f64, f64, f64) {
        let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let (p, r) = (ratio(self.tp, self.predicted), ratio(self.tp, self.actual));
        (p, r, if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) })
    }
}

/// A count (a sum of weights) as JSON: a whole number without a point.
fn count(v: f64) -> Value {
    if v.fract() == 0.0 && (0.0..9.0e15).contains(&v) {
        json!(v as u64)
    } else {
        json!(v)
    }
}

/// The detailed report of `rows` rows of outputs `y` against targets `t`
/// (rows × o each, the targets encoded as for training).
pub struct Report {
    head: Head,
    names: Vec<String>,
    rows: usize,
    /// Softmax: `confusion[true·o + predicted]`.
    confusion: Vec<f64>,
    counts: Vec<Counts>,
    /// Regression: RMSE and R² per target (Welford's sums), `Σ w|y - t|`
    /// and `Σ w`.
    metrics: Metrics,
    abs_err: Vec<f64>,
    weight: f64,
}

/// Outputs `y` and targets `t`, rows of `outputs` values each, and the
/// rows' weights `w` (1 each when `None`).
pub struct Scored<'a> {
    pub y: &'a [f32],
    pub t: &'a [f32],
    pub w: Option<&'a [f32]>,
    pub outputs: usize,
}

impl Report {
    /// The report on `scored`. `names` names the classes (softmax) or the
    /// output columns; missing names are the columns' indices.
    pub fn new(head: Head, names: Option<&[String]>, scored: Scored<'_>) -> Report {
        let Scored { y, t, w, outputs: o } = scored;
        let names = (0..o).map(|j| names.and_then(|n| n.get(j)).cloned().unwrap_or_else(|| j.to_string())).collect();
        let mut r = Report {
            head,
            names,
            rows: y.len() / o.max(1),
            confusion: vec![0.0; if head == Head::Softmax { o * o } else { 0 }],
            counts: vec![Counts::default(); o],
            metrics: Metrics::new(head, o),
            abs_err: vec![0.0; o],
            weight: 0.0,
        };
        for (i, (y, t)) in y.chunks_exact(o).zip(t.chunks_exact(o)).enumerate() {
            r.add(y, t, w.map_or(1.0, |w| w[i]));
        }
        r
    }

    /// Adds a row of weight `w`.
    fn add(&mut self, y: &[f32], t: &[f32], w: f32) {
        let (o, wf) = (y.len(), f64::from(w));
        let hit = |yes: bool| if yes { wf } else { 0.0 };
        self.weight += wf;
        match self.head {
            Head::Softmax => {
                let (truth, guess) = (argmax(t), argmax(y));
                self.confusion[truth * o + guess] += wf;
                self.counts[guess].predicted += wf;
                self.counts[truth].actual += wf;
                self.counts[truth].tp += hit(truth == guess);
            }
            Head::Logistic => {
                for (c, (&y, &t)) in self.counts.iter_mut().zip(y.iter().zip(t)) {
                    let (p, a) = (y > 0.5, t > 0.5);
                    c.predicted += hit(p);
                    c.actual += hit(a);
                    c.tp += hit(p && a);
                }
            }
            Head::Linear | Head::Poisson => {
                self.metrics.add_weighted_row(y, t, 0.0, w);
                for (e, (&y, &t)) in self.abs_err.iter_mut().zip(y.iter().zip(t)) {
                    *e += wf * (f64::from(y) - f64::from(t)).abs();
                }
            }
        }
    }

    /// RMSE, MAE and R² of each target.
    fn regression(&self) -> Vec<(f64, f64, f64)> {
        let n = if self.weight > 0.0 { self.weight } else { 1.0 };
        self.metrics.per_output().into_iter().zip(&self.abs_err).map(|((rmse, r2), a)| (rmse, a / n, r2)).collect()
    }

    /// The report as JSON: `classes` (or `labels`) with precision, recall,
    /// F1 and support, and `confusion`; or `targets` with RMSE, MAE, R².
    pub fn json(&self) -> (String, Value) {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        if self.head.is_regression() {
            let t: Vec<Value> = self
                .regression()
                .into_iter()
                .zip(&self.names)
                .map(|((rmse, mae, r2), name)| json!({"name": name, "rmse": finite(rmse), "mae": finite(mae), "r2": finite(r2)}))
                .collect();
            return ("targets".into(), Value::Array(t));
        }
        let per: Vec<Value> = self
            .counts
            .iter()
            .zip(&self.names)
            .map(|(c, name)| {
                let (p, r, f) = c.prf();
                json!({"name": name, "precision": p, "recall": r, "f1": f, "support": count(c.actual)})
            })
            .collect();
        let key = if self.head == Head::Softmax { "classes" } else { "labels" };
        (key.into(), Value::Array(per))
    }

    /// The confusion matrix as JSON rows (softmax only).
    pub fn confusion_json(&self) -> Option<Value> {
        let o = self.names.len();
        let rows = self.confusion.chunks(o.max(1)).map(|row| Value::Array(row.iter().map(|&v| count(v)).collect()));
        (self.head == Head::Softmax).then(|| Value::Array(rows.collect()))
    }

    /// The report as text, a table per section.
    pub fn text(&self) -> String {
        let w = self.names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(6);
        if self.head.is_regression() {
            let mut s = format!("{:w$}  {:>12}  {:>12}  {:>8}\n", "target", "rmse", "mae", "r2");
            for ((rmse, mae, r2), name) in self.regression().into_iter().zip(&self.names) {
                s += &format!("{name:w$}  {rmse:>12.4}  {mae:>12.4}  {r2:>8.4}\n");
            }
            return s;
        }
        let what = if self.head == Head::Softmax { "class" } else { "label" };
        let mut s = format!("{what:w$}  precision  recall      f1  support\n");
        for (c, name) in self.counts.iter().zip(&self.names) {
            let (p, r, f) = c.prf();
            s += &format!("{name:w$}  {p:>9.4}  {r:>6.4}  {f:>6.4}  {:>7}\n", c.actual);
        }
        if self.head == Head::Softmax {
            let cw = self.names.iter().map(|n| n.chars().count()).max().unwrap_or(1).max(self.rows.to_string().len());
            s += "confusion matrix (rows: true class, columns: predicted)\n";
            s += &format!("{:w$}", "");
            for n in &self.names {
                s += &format!("  {n:>cw$}");
            }
            s += "\n";
            for (row, name) in self.confusion.chunks(self.names.len()).zip(&self.names) {
                s += &format!("{name:w$}");
                for v in row {
                    s += &format!("  {v:>cw$}");
                }
                s += "\n";
            }
        }
        s
    }
}
