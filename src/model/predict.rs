//! Inference: the forward pass alone, in chunks of rows, on the calling
//! thread, with the weights packed once and buffers kept between calls.

use super::Mlp;
use crate::error::{Error, Result};
use crate::kernels::gemm::{gemm, gemm_path, GemmScratch, MatMut, MatRef, PackedB};
use crate::kernels::Kernels;
use crate::layers::dense_forward;
use crate::mem::{vec_of, zeros};

/// Rows pushed through the network at a time.
const CHUNK: usize = 256;

/// A network ready for repeated forward passes: weights packed for the GEMM,
/// two activation buffers of `CHUNK` rows.
pub struct Predictor<'m> {
    mlp: &'m Mlp,
    packed: Vec<PackedB>,
    bufs: [Vec<f32>; 2],
    delta: Vec<f32>,
    scratch: GemmScratch,
    kernels: Kernels,
}

impl<'m> Predictor<'m> {
    /// Packs the weights of `mlp`; an error when the memory cannot be had.
    pub fn new(mlp: &'m Mlp) -> Result<Self> {
        let path = gemm_path();
        let mut l = 0;
        let packed = vec_of(mlp.num_layers(), "packed weights", || {
            let layer = mlp.layer(l).expect("layer index below num_layers");
            l += 1;
            let mut p = PackedB::new();
            p.pack(MatRef::new(layer.weight, layer.inputs, layer.outputs)?, path)?;
            Ok(p)
        })?;
        let widest = mlp.sizes()[1..].iter().copied().max().unwrap_or(1);
        let buf = || zeros(CHUNK.saturating_mul(widest), "activations");
        Ok(Predictor {
            mlp,
            packed,
            bufs: [buf()?, buf()?],
            delta: Vec::new(),
            scratch: GemmScratch::new(),
            kernels: Kernels::active(),
        })
    }

    fn check(&self, x: &[f32], rows: usize, out: &[f32]) -> Result<()> {
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        if rows.checked_mul(i) != Some(x.len()) {
            return Err(Error::shape("inputs", format!("{rows} rows × {i} features"), format!("{} values", x.len())));
        }
        if rows.checked_mul(o) != Some(out.len()) {
            return Err(Error::shape("outputs", format!("{rows} rows × {o} outputs"), format!("{} values", out.len())));
        }
        Ok(())
    }

    /// Runs the hidden layers and the output layer's GEMM for one chunk,
    /// leaving the logits (bias not added) in `out`.
    fn logits(&mut self, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
        let mlp = self.mlp;
        let last = mlp.num_layers() - 1;
        let mut src = 0usize; // which buffer holds the current activations
        for l in 0..=last {
            let layer = mlp.layer(l).expect("layer index below num_layers");
            let [a, b] = &mut self.bufs;
            let (prev, next) = if src == 0 { (&*a, b) } else { (&*b, a) };
            let inp = if l == 0 { x } else { &prev[..rows * layer.inputs] };
            let inp = MatRef::new(inp, rows, layer.inputs)?;
            if l == last {
                let c = MatMut::new(&mut *out, rows, layer.outputs)?;
                gemm(inp, &self.packed[l], c, false, &mut self.scratch)?;
            } else {
                let dst = MatMut::new(&mut next[..rows * layer.outputs], rows, layer.outputs)?;
                let w = self.packed[l].view().ok_or_else(|| Error::config("predict", "weights not packed"))?;
                let act = Some(mlp.activation());
                dense_forward(dst, inp, w, layer.bias, act, &self.kernels, &mut self.scratch)?;
                src = 1 - src;
            }
        }
        Ok(())
    }

    /// Writes the head's outputs for `rows` rows of `x` into `out`
    /// (rows × outputs).
    pub fn predict(&mut self, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
        self.check(x, rows, out)?;
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        let bias = self.mlp.layer(self.mlp.num_layers() - 1).expect("at least one layer").bias;
        for (xc, yc) in x.chunks(CHUNK * i).zip(out.chunks_mut(CHUNK * o)) {
            let r = xc.len() / i;
            self.logits(xc, r, yc)?;
            self.mlp.head().forward(&self.kernels, yc, bias)?;
        }
        Ok(())
    }

    /// Like [`predict`](Self::predict), and also writes each row's error
    /// against targets `t` (rows × outputs) into `loss` (rows values).
    pub fn predict_with_loss(
        &mut self,
        x: &[f32],
        t: &[f32],
        rows: usize,
        out: &mut [f32],
        loss: &mut [f32],
    ) -> Result<()> {
        self.check(x, rows, out)?;
        if t.len() != out.len() {
            return Err(Error::shape("targets", out.len(), t.len()));
        }
        if loss.len() != rows {
            return Err(Error::shape("loss rows", rows, loss.len()));
        }
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        let bias = self.mlp.layer(self.mlp.num_layers() - 1).expect("at least one layer").bias;
        if self.delta.len() < CHUNK * o {
            self.delta = zeros(CHUNK * o, "deltas")?;
        }
        let chunks = x.chunks(CHUNK * i).zip(out.chunks_mut(CHUNK * o)).zip(t.chunks(CHUNK * o));
        for (((xc, yc), tc), lc) in chunks.zip(loss.chunks_mut(CHUNK)) {
            let r = xc.len() / i;
            self.logits(xc, r, yc)?;
            let delta = &mut self.delta[..r * o];
            self.mlp.head().forward_loss(&self.kernels, yc, bias, tc, delta, lc, 1.0)?;
        }
        Ok(())
    }
}
