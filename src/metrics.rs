//! Scores of a head's outputs against targets, accumulated batch by batch:
//! the mean error, and accuracy (softmax: argmax; logistic: every output
//! thresholded at 0.5) or RMSE and R² (linear; R² averaged over the output
//! columns, as scikit-learn's `r2_score` does).

use crate::head::Head;

/// Running sums for [`Scores`].
#[derive(Clone, Debug)]
pub struct Metrics {
    head: Head,
    outputs: usize,
    rows: usize,
    loss: f64,
    hits: u64,
    sq_err: Vec<f64>,
    t_sum: Vec<f64>,
    t_sq: Vec<f64>,
}

/// The scores of a set of rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Rows scored.
    pub rows: usize,
    /// Mean error per row.
    pub loss: f64,
    /// Fraction correct (softmax: rows; logistic: outputs), classifiers only.
    pub accuracy: Option<f64>,
    /// Root mean squared error over every output, linear only.
    pub rmse: Option<f64>,
    /// Coefficient of determination, linear only.
    pub r2: Option<f64>,
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

impl Metrics {
    /// Empty sums for a head with `outputs` outputs.
    pub fn new(head: Head, outputs: usize) -> Self {
        let zeros = || if head == Head::Linear { vec![0.0; outputs] } else { Vec::new() };
        Metrics { head, outputs, rows: 0, loss: 0.0, hits: 0, sq_err: zeros(), t_sum: zeros(), t_sq: zeros() }
    }

    /// Adds one row: its outputs `y`, targets `t` and error.
    pub fn add_row(&mut self, y: &[f32], t: &[f32], loss: f32) {
        self.rows += 1;
        self.loss += loss as f64;
        match self.head {
            Head::Softmax => self.hits += (argmax(y) == argmax(t)) as u64,
            Head::Logistic => self.hits += y.iter().zip(t).filter(|(&y, &t)| (y > 0.5) == (t > 0.5)).count() as u64,
            Head::Linear => {
                for (j, (&y, &t)) in y.iter().zip(t).enumerate() {
                    let (y, t) = (y as f64, t as f64);
                    self.sq_err[j] += (y - t) * (y - t);
                    self.t_sum[j] += t;
                    self.t_sq[j] += t * t;
                }
            }
        }
    }

    /// Adds a batch: `y` and `t` are rows × outputs, `loss` one error a row.
    pub fn add_batch(&mut self, y: &[f32], t: &[f32], loss: &[f32]) {
        let o = self.outputs;
        for ((y, t), &l) in y.chunks_exact(o).zip(t.chunks_exact(o)).zip(loss) {
            self.add_row(y, t, l);
        }
    }

    /// Rows added so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The running sums as text (for checkpoints): every number written so
    /// that it parses back exactly.
    pub fn encode(&self) -> String {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",");
        format!(
            "{};{:?};{};{};{};{}",
            self.rows,
            self.loss,
            self.hits,
            list(&self.sq_err),
            list(&self.t_sum),
            list(&self.t_sq)
        )
    }

    /// Sums from [`encode`](Self::encode), for a head with `outputs` outputs.
    pub fn decode(head: Head, outputs: usize, s: &str) -> Option<Metrics> {
        let parts: Vec<&str> = s.split(';').collect();
        let [rows, loss, hits, sq, ts, tq] = parts[..] else { return None };
        let list = |p: &str| -> Option<Vec<f64>> {
            let v: Vec<f64> =
                if p.is_empty() { vec![] } else { p.split(',').map(|x| x.parse().ok()).collect::<Option<_>>()? };
            (v.len() == if head == Head::Linear { outputs } else { 0 }).then_some(v)
        };
        Some(Metrics {
            head,
            outputs,
            rows: rows.parse().ok()?,
            loss: loss.parse().ok()?,
            hits: hits.parse().ok()?,
            sq_err: list(sq)?,
            t_sum: list(ts)?,
            t_sq: list(tq)?,
        })
    }

    /// The scores so far.
    pub fn scores(&self) -> Scores {
        let n = self.rows.max(1) as f64;
        let mut s = Scores { rows: self.rows, loss: self.loss / n, accuracy: None, rmse: None, r2: None };
        match self.head {
            Head::Softmax => s.accuracy = Some(self.hits as f64 / n),
            Head::Logistic => s.accuracy = Some(self.hits as f64 / (n * self.outputs as f64)),
            Head::Linear => {
                let total: f64 = self.sq_err.iter().sum();
                s.rmse = Some((total / (n * self.outputs as f64)).sqrt());
                let r2: f64 = (0..self.outputs)
                    .map(|j| {
                        let ss_tot = self.t_sq[j] - self.t_sum[j] * self.t_sum[j] / n;
                        if ss_tot > 0.0 {
                            1.0 - self.sq_err[j] / ss_tot
                        } else if self.sq_err[j] == 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .sum();
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
        m.add_batch(&[0.1, 0.7, 0.2, 0.5, 0.3, 0.2], &[0., 1., 0., 0., 0., 1.], &[1.0, 3.0]);
        let s = m.scores();
        assert_eq!((s.rows, s.loss, s.accuracy), (2, 2.0, Some(0.5)));

        let mut m = Metrics::new(Head::Logistic, 2);
        m.add_batch(&[0.9, 0.2, 0.6, 0.7], &[1., 0., 0., 1.], &[0.0, 0.0]);
        assert_eq!(m.scores().accuracy, Some(0.75));

        // y = t + (±1): SSres = 4, t = 0,2,4,6: mean 3, SStot = 20.
        let mut m = Metrics::new(Head::Linear, 1);
        m.add_batch(&[1., 1., 5., 5.], &[0., 2., 4., 6.], &[0.5; 4]);
        let s = m.scores();
        assert_eq!(s.rmse, Some(1.0));
        assert!((s.r2.unwrap() - 0.8).abs() < 1e-12);
        let back = Metrics::decode(Head::Linear, 1, &m.encode()).unwrap();
        assert_eq!(back.scores(), s);
        assert!(Metrics::decode(Head::Linear, 2, &m.encode()).is_none());
    }
}
