//! Minibatches: rows gathered by index into buffers allocated once.

use crate::error::{Error, Result};
use crate::mem::{product, zeros};

/// Gathers rows of an `x` (rows × features) and `t` (rows × outputs) pair
/// into contiguous batch buffers of at most `capacity` rows. (A trainer
/// gathers its batches itself: [`Trainer::step_rows`](crate::Trainer::step_rows).)
#[derive(Debug)]
pub struct Batcher {
    features: usize,
    outputs: usize,
    x: Vec<f32>,
    t: Vec<f32>,
}

impl Batcher {
    /// Buffers for batches of up to `capacity` rows; an error when they
    /// cannot be allocated.
    pub fn new(capacity: usize, features: usize, outputs: usize) -> Result<Self> {
        let x = zeros(product(capacity, features, "batch inputs")?, "batch inputs")?;
        let t = zeros(product(capacity, outputs, "batch targets")?, "batch targets")?;
        Ok(Batcher { features, outputs, x, t })
    }

    /// Copies rows `idx` (at most `capacity` of them) of `x` and `t` into the
    /// batch buffers and returns them.
    pub fn gather(&mut self, x: &[f32], t: &[f32], idx: &[usize]) -> Result<(&[f32], &[f32])> {
        let (f, o) = (self.features, self.outputs);
        let cap = self.x.len() / f.max(1);
        if idx.len() > cap {
            return Err(Error::shape("batch rows", format!("at most {cap}"), idx.len()));
        }
        let rows = (x.len() / f.max(1)).min(t.len() / o.max(1));
        if let Some(&r) = idx.iter().find(|&&r| r >= rows) {
            return Err(Error::shape("batch row index", format!("below {rows}"), r));
        }
        for (i, &r) in idx.iter().enumerate() {
            self.x[i * f..(i + 1) * f].copy_from_slice(&x[r * f..(r + 1) * f]);
            self.t[i * o..(i + 1) * o].copy_from_slice(&t[r * o..(r + 1) * o]);
        }
        Ok((&self.x[..idx.len() * f], &self.t[..idx.len() * o]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows land in order; too many rows or a bad index is an error.
    #[test]
    fn gather_copies_the_rows_asked_for() {
        let (rows, f, o) = (100, 7, 2);
        let x: Vec<f32> = (0..rows * f).map(|v| v as f32).collect();
        let t: Vec<f32> = (0..rows * o).map(|v| -(v as f32)).collect();
        let idx: Vec<usize> = (0..61).map(|i| (i * 37) % rows).collect();
        let mut b = Batcher::new(64, f, o).unwrap();
        let (bx, bt) = b.gather(&x, &t, &idx).unwrap();
        assert_eq!(&bx[3 * f..4 * f], &x[idx[3] * f..(idx[3] + 1) * f]);
        assert_eq!(&bt[60 * o..61 * o], &t[idx[60] * o..(idx[60] + 1) * o]);
        assert!(b.gather(&x, &t, &[1, rows]).is_err());
        assert!(b.gather(&x, &t, &[0; 65]).is_err());
    }
}
