//! Minibatches: rows gathered by index into buffers allocated once.

use crate::error::{Error, Result};
use crate::mem::{product, zeros};
use crate::par::{self, Chunks, ChunksMut};

/// Rows a task of a parallel gather copies at least.
const GATHER_ROWS: usize = 16;

/// Gathers rows of an `x` (rows × features) and `t` (rows × outputs) pair
/// into contiguous batch buffers of at most `capacity` rows.
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
        self.gather_with(x, t, idx, false)
    }

    /// [`gather`](Self::gather), the rows copied in parallel on the current
    /// rayon pool when `par` (for a caller on a trainer's pool thread,
    /// inside [`Trainer::within`](crate::Trainer::within), where the pool's
    /// other threads would otherwise wait for the copy).
    pub fn gather_with(&mut self, x: &[f32], t: &[f32], idx: &[usize], par: bool) -> Result<(&[f32], &[f32])> {
        let (f, o) = (self.features, self.outputs);
        let cap = self.x.len() / f.max(1);
        if idx.len() > cap {
            return Err(Error::shape("batch rows", format!("at most {cap}"), idx.len()));
        }
        let rows = (x.len() / f.max(1)).min(t.len() / o.max(1));
        if let Some(&r) = idx.iter().find(|&&r| r >= rows) {
            return Err(Error::shape("batch row index", format!("below {rows}"), r));
        }
        if par && f > 0 && o > 0 {
            let (bx, bt) = (&mut self.x[..idx.len() * f], &mut self.t[..idx.len() * o]);
            let runs = (
                Chunks::new(idx, GATHER_ROWS),
                (ChunksMut::new(bx, GATHER_ROWS * f), ChunksMut::new(bt, GATHER_ROWS * o)),
            );
            par::for_each(runs, true, |(idx, (bx, bt))| {
                for ((bx, bt), &r) in bx.chunks_mut(f).zip(bt.chunks_mut(o)).zip(idx) {
                    bx.copy_from_slice(&x[r * f..(r + 1) * f]);
                    bt.copy_from_slice(&t[r * o..(r + 1) * o]);
                }
            });
        } else {
            for (i, &r) in idx.iter().enumerate() {
                self.x[i * f..(i + 1) * f].copy_from_slice(&x[r * f..(r + 1) * f]);
                self.t[i * o..(i + 1) * o].copy_from_slice(&t[r * o..(r + 1) * o]);
            }
        }
        Ok((&self.x[..idx.len() * f], &self.t[..idx.len() * o]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In parallel (on a pool of 3) the rows land where the sequential
    /// gather puts them; a bad index is the same error either way.
    #[test]
    fn a_parallel_gather_copies_what_the_plain_one_does() {
        let (rows, f, o) = (100, 7, 2);
        let x: Vec<f32> = (0..rows * f).map(|v| v as f32).collect();
        let t: Vec<f32> = (0..rows * o).map(|v| -(v as f32)).collect();
        let idx: Vec<usize> = (0..61).map(|i| (i * 37) % rows).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let (mut a, mut b) = (Batcher::new(64, f, o).unwrap(), Batcher::new(64, f, o).unwrap());
        let plain = a.gather(&x, &t, &idx).map(|(x, t)| (x.to_vec(), t.to_vec())).unwrap();
        let par = pool.install(|| b.gather_with(&x, &t, &idx, true).map(|(x, t)| (x.to_vec(), t.to_vec())).unwrap());
        assert_eq!(plain, par);
        assert_eq!(&plain.0[3 * f..4 * f], &x[idx[3] * f..(idx[3] + 1) * f]);
        assert!(pool.install(|| b.gather_with(&x, &t, &[1, rows], true)).is_err());
    }
}
