//! Forward: `h_l = f(h_{l-1}·W_l + b_l)` layer after layer, then the head.
//! One pass serves training (a shard, each layer's columns cut into blocks
//! across the pool) and inference (the [`Predictor`](crate::Predictor):
//! whole rows per thread, the weights packed ahead).
//!
//! Within a layer the GEMM writes a block of output columns and the
//! activation pass runs over it while it is in cache. A value does not
//! depend on the block it was computed in, so the cut changes no bit.

use super::pool::ScratchPool;
use crate::error::Result;
use crate::head::Head;
use crate::kernels::gemm::{gemm_path, AOperand, BOperand, GemmPath, MatMut, MatRef, PackedA, PackedB};
use crate::kernels::Kernels;
use crate::layers::{dense_forward, sparse_forward, Activation};
use crate::model::Mlp;
use crate::par::{self, Chunks, ChunksMut};

/// What the blocks of a pass share.
pub(crate) struct Ctx<'a> {
    pub kernels: Kernels,
    /// GEMM packing space, one per pool thread.
    pub scratch: &'a ScratchPool,
    /// Threads that cooperate on each layer (1: one block, on this thread).
    pub threads: usize,
}

/// A network as the forward pass reads it: its sizes and activation, and
/// per layer the weights and the biases.
pub(crate) struct Net<'a> {
    pub sizes: &'a [usize],
    pub activation: Activation,
    pub weights: Weights<'a>,
}

/// Where the weights come from.
pub(crate) enum Weights<'a> {
    /// The network's own `W`, read where it lies (each `KC × NC` block
    /// packed as the GEMM reaches it): training, where `W` changes every
    /// step.
    InPlace(&'a Mlp),
    /// Packed ahead, one [`PackedB`] per layer, with the biases: inference.
    /// `first` is the first layer's `W` as it lies, for inputs that are
    /// mostly zeros.
    Packed { packed: &'a [PackedB], biases: &'a [Vec<f32>], first: &'a [f32] },
}

impl<'a> Net<'a> {
    /// The training network: `mlp`'s weights in place.
    pub(crate) fn in_place(mlp: &'a Mlp) -> Self {
        Net { sizes: mlp.sizes(), activation: mlp.activation(), weights: Weights::InPlace(mlp) }
    }

    /// Layer `l`'s biases.
    fn bias(&self, l: usize) -> &'a [f32] {
        match &self.weights {
            Weights::InPlace(m) => m.layer(l).expect("layer below num_layers").bias,
            Weights::Packed { biases, .. } => &biases[l],
        }
    }

    /// The first layer's `W` (inputs × outputs, row-major).
    fn first(&self) -> &'a [f32] {
        match &self.weights {
            Weights::InPlace(m) => m.layer(0).expect("layer 0").weight,
            Weights::Packed { first, .. } => first,
        }
    }

    /// Columns `j0..j0+c` of layer `l`'s `W` as the GEMM's B operand.
    fn w(&self, l: usize, j0: usize, c: usize) -> Result<BOperand<'a>> {
        let (i, o) = (self.sizes[l], self.sizes[l + 1]);
        match &self.weights {
            Weights::InPlace(m) => {
                Ok(MatRef::new(m.layer(l).expect("layer below num_layers").weight, i, o)?.cols_range(j0, c).into())
            }
            // Packed weights are read whole (inference runs one block).
            Weights::Packed { packed, .. } => {
                debug_assert!(j0 == 0 && c == o);
                Ok((&packed[l]).into())
            }
        }
    }

    /// Columns per block when `threads` cooperate on a layer of `n` outputs.
    fn block_width(&self, n: usize, threads: usize) -> usize {
        match self.weights {
            Weights::Packed { .. } => n.max(1),
            Weights::InPlace(_) => block_width(n, threads),
        }
    }
}

/// Columns per parallel block: one block per thread (each block packs the
/// whole A for itself, so fewer blocks pack less; against two per thread,
/// median of the best steps over 5 alternating runs, twice: M T=2 101 → 113
/// and 128 → 137 GFLOP/s, L 101 → 114 and 139 → 141), whole panels of the
/// GEMM, and never fewer than two panels. (Four before steps ran inside the
/// pool: then S's 128 columns were one block; as two, S at T=2 with every
/// step on the pool took 0.249-0.251 ms a step against 0.253-0.276, 3
/// alternating rounds.)
pub(crate) fn block_width(n: usize, threads: usize) -> usize {
    let (path, (_, nr)) = (gemm_path(), gemm_path().tile());
    if threads <= 1 || path == GemmPath::MatrixMultiply {
        return n.max(1);
    }
    n.div_ceil(threads).div_ceil(nr).max(2) * nr
}

type BlockFn<'f> = dyn Fn(MatMut<'_>, usize) -> Result<()> + Sync + 'f;

/// Runs `f(block, first column)` over blocks of `width` columns of `c`,
/// splitting in halves with [`par::join`] when `par`.
pub(crate) fn for_col_blocks(c: MatMut<'_>, j0: usize, width: usize, par: bool, f: &BlockFn<'_>) -> Result<()> {
    if c.cols() <= width {
        return f(c, j0);
    }
    let half = (c.cols() / width).div_ceil(2) * width;
    let (left, right) = c.split_at_col(half);
    if par {
        let (a, b) =
            par::join(|| for_col_blocks(left, j0, width, par, f), || for_col_blocks(right, j0 + half, width, par, f));
        a.and(b)
    } else {
        for_col_blocks(left, j0, width, par, f)?;
        for_col_blocks(right, j0 + half, width, par, f)
    }
}

/// A layer's left-hand operand as the blocks read it: when several blocks
/// share it, packed once into `shared` (its panels in parallel), so that no
/// thread packs it again; otherwise the view, which the GEMM packs itself.
pub(crate) fn shared_input<'a>(
    src: MatRef<'a>,
    blocks: usize,
    shared: Option<&'a mut PackedA>,
    par: bool,
) -> Result<AOperand<'a>> {
    match shared {
        Some(p) if blocks > 1 => {
            p.pack_with(src, gemm_path(), par)?;
            Ok(AOperand::from(&*p))
        }
        _ => Ok(src.into()),
    }
}

/// The forward pass of `n` rows of `x` (n × inputs): `h[l] = f(h[l-1]·W_l +
/// b_l)` for the hidden layers, and in `h[last]` the output layer's logits
/// `h·W_L` (its bias is the head's to add). `h[l]` holds at least
/// n × sizes[l+1] values. `shared` is where a layer's input is packed when
/// the threads split the layer's columns. With `sparse` (`x` mostly zeros)
/// the first layer is [`sparse_forward`].
pub(crate) fn forward(
    net: &Net<'_>,
    x: &[f32],
    sparse: bool,
    n: usize,
    h: &mut [Vec<f32>],
    mut shared: Option<&mut PackedA>,
    ctx: &Ctx<'_>,
) -> Result<()> {
    let sizes = net.sizes;
    let last = sizes.len() - 2;
    let par = ctx.threads > 1;
    for l in 0..=last {
        let (done, rest) = h.split_at_mut(l);
        let src = if l == 0 { &x[..n * sizes[0]] } else { &done[l - 1][..n * sizes[l]] };
        let out = &mut rest[0][..n * sizes[l + 1]];
        let (bias, act) = (net.bias(l), (l < last).then_some(net.activation));
        if sparse && l == 0 {
            let w = MatRef::new(net.first(), sizes[0], sizes[1])?;
            sparse_layer(out, src, w, if act.is_some() { bias } else { &[] }, act, ctx)?;
            continue;
        }
        let width = net.block_width(sizes[l + 1], ctx.threads);
        let src =
            shared_input(MatRef::new(src, n, sizes[l])?, sizes[l + 1].div_ceil(width), shared.as_deref_mut(), par)?;
        let out = MatMut::new(out, n, sizes[l + 1])?;
        let block = |blk: MatMut<'_>, j0: usize| {
            let c = blk.cols();
            let b = if act.is_some() { &bias[j0..j0 + c] } else { &[][..] };
            let w = net.w(l, j0, c)?;
            ctx.scratch.with(|s| dense_forward(blk, src, w, b, act, &ctx.kernels, s))
        };
        for_col_blocks(out, 0, width, par, &block)?;
    }
    Ok(())
}

/// The first layer from mostly-zero inputs `x` ([`sparse_forward`]), its
/// rows cut across the pool: a block of columns of its own would walk each
/// row's nonzeros again, with fewer accumulators.
fn sparse_layer(
    out: &mut [f32],
    x: &[f32],
    w: MatRef<'_>,
    bias: &[f32],
    act: Option<Activation>,
    ctx: &Ctx<'_>,
) -> Result<()> {
    let (i, o) = (w.rows(), w.cols());
    let per = (x.len() / i).div_ceil(ctx.threads).max(1);
    let rows = |(out, x): (&mut [f32], &[f32])| {
        let r = x.len() / i;
        sparse_forward(MatMut::new(out, r, o)?, MatRef::new(x, r, i)?, w, bias, act, &ctx.kernels)
    };
    par::try_for_each((ChunksMut::new(out, per * o), Chunks::new(x, per * i)), ctx.threads > 1, rows)
}

/// Rows of the head per parallel task.
const HEAD_ROWS: usize = 32;

/// Rows for the head: ((outputs, deltas), (targets, errors)).
type HeadRows<'a> = ((&'a mut [f32], &'a mut [f32]), (&'a [f32], &'a mut [f32]));

/// The head for training, fused: the logits `s` (n × outputs, bias not yet
/// added) become `y`, `loss[r]` row r's error and `delta = (y - t)·scale`,
/// rows in parallel when `ctx.threads > 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn head_loss(
    head: Head,
    s: &mut [f32],
    bias: &[f32],
    t: &[f32],
    delta: &mut [f32],
    loss: &mut [f32],
    scale: f32,
    ctx: &Ctx<'_>,
) -> Result<()> {
    let o = bias.len();
    let k = &ctx.kernels;
    let rows = |((y, d), (t, l)): HeadRows<'_>| head.forward_loss(k, y, bias, t, d, l, scale);
    let (c, lc) = (HEAD_ROWS * o, HEAD_ROWS);
    let work = ((ChunksMut::new(s, c), ChunksMut::new(delta, c)), (Chunks::new(t, c), ChunksMut::new(loss, lc)));
    par::try_for_each(work, ctx.threads > 1, rows)
}
