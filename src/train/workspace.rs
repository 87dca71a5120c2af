//! Buffers allocated once per trainer: each shard's activations, deltas and
//! packed deltas; the packing space of each thread. Nothing here grows after
//! the first step at a given batch size.

use crate::error::Result;
use crate::kernels::gemm::{GemmScratch, PackedB};
use crate::mem::{product, vec_of, zeros};
use std::ops::Range;
use std::sync::Mutex;

/// One shard's workspace: rows `rows` of the current batch.
pub(crate) struct Shard {
    /// The batch rows this shard holds in the current step.
    pub rows: Range<usize>,
    /// `h[l]`: output of layer `l`, rows × sizes[l+1]; the last holds the
    /// logits, then the head's outputs y.
    pub h: Vec<Vec<f32>>,
    /// `delta[l]`: ∂E/∂s of layer `l`'s pre-activations, rows × sizes[l+1].
    pub delta: Vec<Vec<f32>>,
    /// `delta[l]` packed as the right-hand operand of the weight gradient.
    pub packed_delta: Vec<PackedB>,
    /// Error of each row.
    pub loss: Vec<f32>,
}

impl Shard {
    /// A workspace for up to `cap` rows of a network with these sizes.
    pub(crate) fn new(sizes: &[usize], cap: usize) -> Result<Shard> {
        let layers = sizes.len() - 1;
        let mut h = Vec::with_capacity(layers);
        let mut delta = Vec::with_capacity(layers);
        for &w in &sizes[1..] {
            let n = product(cap, w, "shard activations")?;
            h.push(zeros(n, "activations")?);
            delta.push(zeros(n, "deltas")?);
        }
        Ok(Shard {
            rows: 0..0,
            h,
            delta,
            packed_delta: vec_of(layers, "packed deltas", || Ok(PackedB::new()))?,
            loss: zeros(cap, "losses")?,
        })
    }
}

/// GEMM packing space, one per pool thread: a GEMM call on a pool thread
/// borrows that thread's (calls never nest, so the lock is never contended).
pub(crate) struct ScratchPool(Vec<Mutex<GemmScratch>>);

impl ScratchPool {
    pub(crate) fn new(threads: usize) -> Result<Self> {
        vec_of(threads.max(1), "GEMM scratch", || Ok(Mutex::new(GemmScratch::full()?))).map(ScratchPool)
    }

    /// Runs `f` with the calling thread's scratch.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut GemmScratch) -> R) -> R {
        let i = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        let mut s = self.0[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }
}

/// Cuts `rows` batch rows into shards of `shard_rows`: shard `s` gets rows
/// `s·shard_rows ..`, the last possibly fewer. Returns how many are used.
pub(crate) fn assign_rows(shards: &mut [Shard], rows: usize, shard_rows: usize) -> usize {
    let used = rows.div_ceil(shard_rows);
    for (s, sh) in shards.iter_mut().enumerate() {
        let start = (s * shard_rows).min(rows);
        sh.rows = start..((s + 1) * shard_rows).min(rows);
    }
    used
}
