//! A batch cut into shards, and one shard's pass: its rows gathered, then
//! forward, head and the deltas backward, on the shard's own workspace.
//! The shards run side by side, each on its share of the team; a shard
//! keeps everything the weight gradients read afterwards (its inputs, its
//! activations and its deltas, packed). Every buffer is allocated once per
//! trainer.

use super::backward::{backward, Deltas};
use crate::error::{Error, Result};
use crate::exec::{Chunks, ChunksMut, Team};
use crate::head::Head;
use crate::kernels::gemm::{GemmScratch, Mode, PackedA, PackedB};
use crate::kernels::{HeadRows, Kernels};
use crate::mem::{product, vec_of, zeros};
use crate::net::{forward, Input, Net, Work};
use std::ops::Range;

/// The rows of one step: `x` (inputs), `t` (targets) and `w` (row
/// weights, when given) of `rows` rows lying one after another, or picked
/// from a larger table by `idx`.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub x: &'a [f32],
    pub t: &'a [f32],
    pub w: Option<&'a [f32]>,
    pub idx: Option<&'a [usize]>,
    pub inputs: usize,
    pub outputs: usize,
}

impl Batch<'_> {
    /// Rows in the batch.
    pub(crate) fn rows(&self) -> usize {
        self.idx.map_or(self.x.len() / self.inputs.max(1), <[usize]>::len)
    }

    /// The weight of batch row `r` (1 without weights).
    pub(crate) fn weight(&self, r: usize) -> f32 {
        self.w.map_or(1.0, |w| w[self.idx.map_or(r, |idx| idx[r])])
    }

    /// `Σ w` over the batch's rows, in row order (the row count without
    /// weights); every rank computes it from the whole batch.
    pub(crate) fn total_weight(&self) -> f64 {
        match self.w {
            None => self.rows() as f64,
            Some(_) => (0..self.rows()).fold(0.0, |acc, r| acc + self.weight(r) as f64),
        }
    }

    /// `Σ w_r·E_r` of the batch's rows' errors `losses`, in row order.
    pub(crate) fn weighted_sum(&self, losses: impl Iterator<Item = f32>) -> f64 {
        losses.enumerate().fold(0.0, |acc, (r, e)| acc + self.weight(r) as f64 * e as f64)
    }

    /// Whether the batch's inputs are mostly zeros
    /// ([`sparse_inputs`](crate::net::sparse_inputs)), decided over the
    /// whole batch so that no cut or rank count changes it.
    pub(crate) fn sparse(&self, k: &Kernels) -> bool {
        let i = self.inputs;
        match self.idx {
            None => crate::net::sparse_inputs(k, self.x),
            Some(idx) => {
                let nonzeros = idx.iter().map(|&r| k.count_nonzeros(&self.x[r * i..(r + 1) * i])).sum();
                crate::net::mostly_zeros(nonzeros, idx.len() * i)
            }
        }
    }
}

/// How the step's shards are run: the head, the batch's `1/Σw`, and
/// whether the inputs are mostly zeros.
#[derive(Clone, Copy)]
pub(crate) struct PassSettings {
    pub head: Head,
    /// `1/Σw` (`1/B` without weights): the objective is the batch's
    /// (weighted) mean.
    pub scale: f32,
    pub sparse: bool,
}

/// One shard's workspace: rows `rows` of the current batch.
pub(crate) struct Shard {
    /// The batch rows this shard holds in the current step.
    pub rows: Range<usize>,
    /// Its inputs and targets, when the batch picks its rows by index.
    x: Vec<f32>,
    t: Vec<f32>,
    /// Its rows' weights (1 each without weights).
    w: Vec<f32>,
    /// `h[l]`: output of layer `l`, rows × sizes[l+1]; the last holds the
    /// logits, then the head's outputs y.
    pub h: Vec<Vec<f32>>,
    /// `delta[l]`: ∂E/∂s of layer `l`'s pre-activations, rows × sizes[l+1].
    pub delta: Vec<Vec<f32>>,
    /// `delta[l]` packed as the right-hand operand of the weight gradient
    /// (but the first layer's when the inputs are mostly zeros).
    pub packed_delta: Vec<PackedB>,
    /// Error of each row.
    pub loss: Vec<f32>,
    /// GEMM packing space, one for each thread the shard may be given.
    scratch: Vec<GemmScratch>,
    /// A layer's input, packed once for the threads that split its columns.
    packed_input: PackedA,
}

impl Shard {
    /// A workspace for up to `cap` rows of a network with these sizes, run
    /// by up to `threads` threads; with `alone`, room for the GEMMs to pack
    /// blocks of the weights themselves (a shard that may run alone: see
    /// [`net`](crate::net)).
    pub(crate) fn new(sizes: &[usize], cap: usize, threads: usize, alone: bool, mode: Mode) -> Result<Shard> {
        let layers = sizes.len() - 1;
        let buffers = |what: &str| {
            let mut l = 0;
            vec_of(layers, what, || {
                l += 1;
                zeros(product(cap, sizes[l], what)?, what)
            })
        };
        let o = sizes[layers];
        Ok(Shard {
            rows: 0..0,
            x: zeros(product(cap, sizes[0], "gathered inputs")?, "gathered inputs")?,
            t: zeros(product(cap, o, "gathered targets")?, "gathered targets")?,
            w: zeros(cap, "row weights")?,
            h: buffers("activations")?,
            delta: buffers("deltas")?,
            packed_delta: vec_of(layers, "packed deltas", || Ok(PackedB::new()))?,
            loss: zeros(cap, "losses")?,
            scratch: vec_of(threads.max(1), "GEMM scratch", || {
                if alone {
                    GemmScratch::full(mode)
                } else {
                    GemmScratch::for_packed_b(mode)
                }
            })?,
            packed_input: PackedA::new(),
        })
    }

    /// The shard's inputs (rows × inputs): in the batch, or gathered.
    pub(crate) fn input<'a>(&'a self, batch: &Batch<'a>) -> &'a [f32] {
        let (n, i) = (self.rows.len(), batch.inputs);
        match batch.idx {
            Some(_) => &self.x[..n * i],
            None => &batch.x[self.rows.start * i..self.rows.end * i],
        }
    }

    /// Forward, head and backward for the rows `self.rows` of `batch` on
    /// `team`: leaves `h[l]` (activations, y in the last), `delta[l]` and
    /// its packed copy for every layer, and each row's error in `loss`.
    pub(crate) fn pass(&mut self, batch: &Batch<'_>, net: &Net<'_>, s: PassSettings, team: Team<'_>) -> Result<()> {
        let n = self.rows.len();
        if n == 0 {
            return Ok(());
        }
        let Shard { rows, x, t, w, h, delta, packed_delta, loss, scratch, packed_input } = self;
        for (r, v) in rows.clone().zip(w.iter_mut()) {
            *v = batch.weight(r);
        }
        let (x, t) = gather(batch, rows.clone(), x, t)?;
        let mut work = Work { scratch, shared: Some(packed_input), team };
        forward(h, Input { x, rows: n, sparse: s.sparse }, net, &mut work)?;
        let last = net.layers() - 1;
        let o = net.sizes[last + 1];
        let (y, d) = (&mut h[last][..n * o], &mut delta[last][..n * o]);
        let weights = Some(&w[..n]);
        let rows = HeadRows { s: y, b: net.bias(last), t, delta: d, loss: &mut loss[..n], scale: s.scale, weights };
        head_loss(rows, s.head, &net.kernels, team)?;
        backward(Deltas { delta, packed: packed_delta, rows: n, sparse: s.sparse }, h, net, &mut work)
    }
}

/// The inputs and targets of `rows` of `batch`: its own slices when its
/// rows lie one after another, else copied into `x` and `t`.
fn gather<'a>(
    batch: &Batch<'a>,
    rows: Range<usize>,
    x: &'a mut [f32],
    t: &'a mut [f32],
) -> Result<(&'a [f32], &'a [f32])> {
    let (i, o, n) = (batch.inputs, batch.outputs, rows.len());
    let Some(idx) = batch.idx else {
        return Ok((&batch.x[rows.start * i..rows.end * i], &batch.t[rows.start * o..rows.end * o]));
    };
    let (x, t) = (&mut x[..n * i], &mut t[..n * o]);
    for ((xr, tr), &r) in x.chunks_exact_mut(i.max(1)).zip(t.chunks_exact_mut(o)).zip(&idx[rows]) {
        let (src_x, src_t) = (batch.x.get(r * i..(r + 1) * i), batch.t.get(r * o..(r + 1) * o));
        let (Some(src_x), Some(src_t)) = (src_x, src_t) else {
            return Err(Error::shape("batch row index", format!("below {}", batch.t.len() / o.max(1)), r));
        };
        xr.copy_from_slice(src_x);
        tr.copy_from_slice(src_t);
    }
    Ok((x, t))
}

/// Rows of the head per task when a shard's team has several threads.
const HEAD_ROWS: usize = 32;

/// The head for training, fused ([`HeadRows`]), in blocks of
/// [`HEAD_ROWS`] rows across the team; `weights` holds one per row.
fn head_loss(r: HeadRows<'_>, head: Head, k: &Kernels, team: Team<'_>) -> Result<()> {
    let HeadRows { s, b, t, delta, loss, scale, weights } = r;
    if weights.map(<[f32]>::len) != Some(loss.len()) {
        return Err(Error::shape("head row weights", loss.len(), weights.map_or(0, <[f32]>::len)));
    }
    let c = HEAD_ROWS * b.len();
    let out = (ChunksMut::new(s, c), ChunksMut::new(delta, c));
    let rows = (ChunksMut::new(loss, HEAD_ROWS), Chunks::new(weights.unwrap_or(&[]), HEAD_ROWS));
    team.try_for_each((out, (Chunks::new(t, c), rows)), |((s, delta), (t, (loss, w)))| {
        head.forward_loss(k, HeadRows { s, b, t, delta, loss, scale, weights: Some(w) })
    })
}

/// Cuts `rows` (a range of batch rows) into shards of `shard_rows`: shard
/// `s` gets the `s`-th run of `shard_rows` rows, the last possibly fewer,
/// those past the end none. Returns how many are used.
pub(crate) fn assign_rows(shards: &mut [Shard], rows: Range<usize>, shard_rows: usize) -> usize {
    let used = rows.len().div_ceil(shard_rows);
    for (s, sh) in shards.iter_mut().enumerate() {
        let start = (rows.start + s * shard_rows).min(rows.end);
        sh.rows = start..(start + shard_rows).min(rows.end);
    }
    used
}
