//! Cutting a batch into shards, each shard's workspace, and one shard's
//! pass: forward, head, deltas backward. Shards are cut from the batch size
//! alone, never from the thread count, so results do not depend on it.
//! Every buffer here is allocated once per trainer; nothing grows after the
//! first step at a given batch size.

use super::backward::backward_deltas;
use super::forward::{forward, head_loss, Ctx, Net};
use crate::error::Result;
use crate::kernels::gemm::{PackedA, PackedB};
use crate::kernels::Kernels;
use crate::mem::{product, vec_of, zeros};
use crate::model::Mlp;
use std::ops::Range;

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
    /// A layer's input (forward) or δ (backward) packed once for all the
    /// threads that split the layer's columns.
    pub packed_input: PackedA,
    /// Error of each row.
    pub loss: Vec<f32>,
    /// Whether this step's inputs are mostly zeros ([`sparse_inputs`]).
    pub sparse: bool,
}

impl Shard {
    /// A workspace for up to `cap` rows of a network with these sizes.
    pub(crate) fn new(sizes: &[usize], cap: usize) -> Result<Shard> {
        let layers = sizes.len() - 1;
        let buffers = |what: &str| {
            let mut l = 0;
            vec_of(layers, what, || {
                l += 1;
                zeros(product(cap, sizes[l], what)?, what)
            })
        };
        Ok(Shard {
            rows: 0..0,
            h: buffers("activations")?,
            delta: buffers("deltas")?,
            packed_delta: vec_of(layers, "packed deltas", || Ok(PackedB::new()))?,
            packed_input: PackedA::new(),
            loss: zeros(cap, "losses")?,
            sparse: false,
        })
    }

    /// Forward, head and backward for the rows `self.rows` of the batch `x`
    /// (inputs) and `t` (targets): leaves `h[l]` (activations, y in the
    /// last), `delta[l]` and its packed copy for every layer, and each row's
    /// error in `loss`. `scale` is `1/B`: the objective is the batch mean.
    pub(crate) fn pass(&mut self, mlp: &Mlp, x: &[f32], t: &[f32], scale: f32, ctx: &Ctx<'_>) -> Result<()> {
        self.forward_head(mlp, x, t, scale, ctx)?;
        backward_deltas(self, mlp, ctx)
    }

    /// [`pass`](Self::pass) up to the head: the activations, `y`, the row
    /// errors and the last layer's δ (unpacked); the rest of backward is
    /// [`backward_layer`](super::backward::backward_layer)'s, a layer at a
    /// time.
    pub(crate) fn forward_head(&mut self, mlp: &Mlp, x: &[f32], t: &[f32], scale: f32, ctx: &Ctx<'_>) -> Result<()> {
        let (n, sizes) = (self.rows.len(), mlp.sizes());
        let (i, o, last) = (sizes[0], mlp.outputs(), mlp.num_layers() - 1);
        let x = &x[self.rows.start * i..self.rows.end * i];
        // Decided for every shard, so that no shard keeps an earlier step's.
        self.sparse = sparse_inputs(&ctx.kernels, x);
        if n == 0 {
            return Ok(());
        }
        forward(&Net::in_place(mlp), x, self.sparse, n, &mut self.h, Some(&mut self.packed_input), ctx)?;
        let bias = mlp.layer(last).expect("layer exists").bias;
        let (y, d) = (&mut self.h[last][..n * o], &mut self.delta[last][..n * o]);
        let t = &t[self.rows.start * o..self.rows.end * o];
        head_loss(mlp.head(), y, bias, t, d, &mut self.loss[..n], scale, ctx)
    }
}

/// The largest share of nonzero inputs for which the first layer's
/// products skip the zeros ([`sparse_forward`](crate::layers::sparse_forward),
/// [`sparse_grad`](crate::layers::sparse_grad)). Measured on this
/// project's Xeon (AVX-512) for 64 rows of 784 inputs into 128 columns,
/// nonzeros at random places, best of 3 × 1000 calls, sparse over dense:
/// forward 0.39 / 0.77 / 1.10 / 1.47 and weight gradient 0.42 / 0.58 /
/// 0.82 / 1.07 at 10 / 20 / 30 / 40 % nonzero (MNIST's digits, about 19 %
/// nonzero in strokes, give 0.53 and 0.56).
pub(crate) const MAX_DENSITY: f64 = 0.25;

/// Whether a shard's inputs `x` are mostly zeros: at most [`MAX_DENSITY`]
/// of them nonzero. It depends on the values only, never on the thread
/// count or the instruction set, so results do not either.
pub(crate) fn sparse_inputs(k: &Kernels, x: &[f32]) -> bool {
    !x.is_empty() && k.count_nonzeros(x) as f64 <= MAX_DENSITY * x.len() as f64
}

/// `f` on every shard: across the pool when `par` (the caller runs inside
/// it), else in turn on this thread.
pub(crate) fn each_shard(
    shards: &mut [Shard],
    par: bool,
    f: impl Fn(&mut Shard) -> Result<()> + Send + Sync,
) -> Result<()> {
    crate::par::try_for_each(shards, par, f)
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
