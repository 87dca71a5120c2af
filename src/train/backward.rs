//! Backward: the deltas down the layers of each shard, then the weight and
//! bias gradients of every layer, tile by tile,
//!
//! ```text
//! δ_{l-1} = (δ_l·W_lᵀ) ⊙ f'(h_{l-1})      per shard, columns in blocks across the pool
//! ∂E/∂W_l = Σ_s h_{l-1,s}ᵀ·δ_{l,s}        per tile of rows of ∂E/∂W_l, shards summed in order
//! ∂E/∂b_l = Σ_s Σ_rows δ_{l,s}
//! ```
//!
//! `Wᵀ` is a transposed view of `W`, read in place. Each δ is packed for the
//! weight gradient as soon as it is complete, while it is in cache. No shard
//! keeps a gradient of its own (that would cost a copy of the weights per
//! shard, and a pass to add them up): a tile task runs shard 0's product
//! into the tile and adds the others in shard order ([`reduce`]), so a
//! tile's bits depend on the shard cut and order only, never on the thread.
//!
//! [`reduce`]: super::reduce

use super::forward::{block_width, for_col_blocks, shared_input, Ctx};
use super::reduce::{in_shard_order, SquaredNorm};
use super::shards::Shard;
use crate::error::Result;
use crate::kernels::gemm::{gemm_path, GemmScratch, MatMut, MatRef};
use crate::kernels::Kernels;
use crate::layers::{dense_backward, dense_grad, sparse_grad};
use crate::mem::{product, zeros};
use crate::model::{layer_ranges, Mlp};
use crate::par::{self, ChunksMut};
use std::ops::Range;

/// Layer `l`'s part of one shard's backward pass: its delta from the layer
/// above, `δ_l = (δ_{l+1}·W_{l+1}ᵀ) ⊙ f'(h_l)` (for the last layer, the
/// head's δ is already there), then `δ_l` packed for the weight gradient.
pub(crate) fn backward_layer(sh: &mut Shard, mlp: &Mlp, l: usize, ctx: &Ctx<'_>) -> Result<()> {
    let (sizes, n, par) = (mlp.sizes(), sh.rows.len(), ctx.threads > 1);
    if n == 0 {
        return Ok(());
    }
    let Shard { h, delta, packed_delta, packed_input, .. } = sh;
    if l + 1 < mlp.num_layers() {
        let (up, inn, w) = (l + 1, sizes[l + 1], sizes[l + 2]);
        let (below, above) = delta.split_at_mut(up);
        let width = block_width(inn, ctx.threads);
        let dl = MatRef::new(&above[0][..n * w], n, w)?;
        let dl = shared_input(dl, inn.div_ceil(width), Some(&mut *packed_input), par)?;
        let din = MatMut::new(&mut below[l][..n * inn], n, inn)?;
        let hv = MatRef::new(&h[l][..n * inn], n, inn)?;
        let wt = MatRef::new(mlp.layer(up).expect("layer exists").weight, inn, w)?.t();
        let act = mlp.activation();
        let block = |blk: MatMut<'_>, j0: usize| {
            let c = blk.cols();
            ctx.scratch
                .with(|s| dense_backward(blk, dl, wt.cols_range(j0, c), hv.cols_range(j0, c), act, &ctx.kernels, s))
        };
        for_col_blocks(din, 0, width, par, &block)?;
    }
    // A sparse input's gradient reads δ₁ as it lies.
    if l == 0 && sh.sparse {
        return Ok(());
    }
    let w = sizes[l + 1];
    packed_delta[l].pack_with(MatRef::new(&delta[l][..n * w], n, w)?, gemm_path(), par)
}

/// The deltas of one shard from `delta[last]` (the head's) down to the
/// first hidden layer, each packed for the weight gradient.
pub(crate) fn backward_deltas(sh: &mut Shard, mlp: &Mlp, ctx: &Ctx<'_>) -> Result<()> {
    (0..mlp.num_layers()).rev().try_for_each(|l| backward_layer(sh, mlp, l, ctx))
}

/// Rows of `∂E/∂W` per tile task.
pub(crate) const TILE_ROWS: usize = 96;

/// One tile task's workspace: packing space, room for a tile's inputs as
/// rows ([`sparse_grad`]), and the squared norm of the tile it last
/// computed.
pub(crate) struct TileWork {
    scratch: GemmScratch,
    rows: Vec<f32>,
    pub sq: f64,
}

impl TileWork {
    /// A workspace for sparse inputs of shards of up to `shard_rows` rows
    /// (0: for tiles past the first layer's, which never read them).
    pub(crate) fn new(shard_rows: usize) -> Result<TileWork> {
        let rows = zeros(product(TILE_ROWS, shard_rows, "gradient tile inputs")?, "gradient tile inputs")?;
        Ok(TileWork { scratch: GemmScratch::default(), rows, sq: 0.0 })
    }
}

/// Tile tasks needed for the widest layer input of `sizes`: how many
/// [`TileWork`]s [`segment_gradients`] needs.
pub(crate) fn tiles_needed(sizes: &[usize]) -> usize {
    sizes[..sizes.len() - 1].iter().map(|s| s.div_ceil(TILE_ROWS)).max().unwrap_or(1)
}

/// What the weight gradients are computed from: the shards' deltas and
/// activations, and the batch's inputs `x`.
pub(crate) struct GradInputs<'a> {
    pub shards: &'a [Shard],
    pub x: &'a [f32],
    pub mlp: &'a Mlp,
    pub kernels: &'a Kernels,
    pub par: bool,
}

/// A run of tiles of one layer's gradient: the unit one chain message
/// carries between ranks ([`dist`](crate::dist)); a whole layer in one
/// process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub layer: usize,
    /// Tiles of `TILE_ROWS` rows of `∂E/∂W`.
    pub tiles: Range<usize>,
    /// Whether the layer's bias gradient follows (the last segment of a
    /// layer).
    pub bias: bool,
}

impl Segment {
    /// Where the segment lies in the gradient, laid out like
    /// [`Mlp::params`] (a layer's bias follows its weights).
    pub(crate) fn range(&self, sizes: &[usize]) -> Range<usize> {
        let (wr, br) = layer_ranges(sizes, self.layer);
        let out = sizes[self.layer + 1];
        let r0 = self.tiles.start * TILE_ROWS;
        (wr.start + r0 * out)..if self.bias { br.end } else { wr.start + (r0 + self.weight_rows(sizes)) * out }
    }

    /// Rows of `∂E/∂W` the segment's tiles cover (the last tile of a layer
    /// may be short); its weights are the first `weight_rows · out` values
    /// of its range, its bias (when it has one) the rest.
    pub(crate) fn weight_rows(&self, sizes: &[usize]) -> usize {
        (self.tiles.end * TILE_ROWS).min(sizes[self.layer]) - self.tiles.start * TILE_ROWS
    }
}

/// The gradient's segments in order, layer by layer, each at most
/// `max_floats` weights (but at least one tile).
pub(crate) fn segments(sizes: &[usize], max_floats: usize) -> impl Iterator<Item = Segment> + '_ {
    (0..sizes.len() - 1).flat_map(move |layer| {
        let tiles = sizes[layer].div_ceil(TILE_ROWS);
        let per = (max_floats / (TILE_ROWS * sizes[layer + 1])).clamp(1, tiles);
        (0..tiles.div_ceil(per)).map(move |c| Segment {
            layer,
            tiles: c * per..((c + 1) * per).min(tiles),
            bias: (c + 1) * per >= tiles,
        })
    })
}

/// The shards' terms of one segment of `∂E/∂θ`, into `g` (the segment's
/// slice of the gradient): written when `onto` is false, added to what `g`
/// holds (the sums of the shards before these, from another rank) when
/// true. Each tile is `Σ_s h_sᵀ·δ_s` in shard order; with a `norm`, its
/// squares are then noted there, while the tile is in cache.
pub(crate) fn segment_gradients(
    g: &mut [f32],
    seg: &Segment,
    onto: bool,
    inp: &GradInputs<'_>,
    work: &mut [TileWork],
    norm: Option<&mut SquaredNorm>,
) -> Result<()> {
    let (sizes, l, k) = (inp.mlp.sizes(), seg.layer, inp.kernels);
    let (inn, out) = (sizes[l], sizes[l + 1]);
    let (gw, gb) = g.split_at_mut(seg.weight_rows(sizes) * out);
    debug_assert!(work.len() >= seg.tiles.len());
    let squares = norm.is_some();
    let tile_task = |(i, (tile, w)): (usize, (&mut [f32], &mut TileWork))| -> Result<()> {
        let (r0, tr) = ((seg.tiles.start + i) * TILE_ROWS, tile.len() / out);
        in_shard_order(inp.shards, |sh, accumulate| {
            let n = sh.rows.len();
            let src = if l == 0 { &inp.x[sh.rows.start * inn..sh.rows.end * inn] } else { &sh.h[l - 1][..n * inn] };
            // Rows r0..r0+tr of srcᵀ, by strides.
            let a = MatRef::with_strides(&src[r0..], tr, n, 1, inn)?;
            if l == 0 && sh.sparse {
                let dout = MatRef::new(&sh.delta[0][..n * out], n, out)?;
                return sparse_grad(tile, a, dout, accumulate || onto, k, &mut w.rows);
            }
            dense_grad(tile, a, &sh.packed_delta[l], accumulate || onto, &mut w.scratch)
        })?;
        if squares {
            w.sq = k.sum_squares(tile);
        }
        Ok(())
    };
    let tiles = ChunksMut::new(gw, TILE_ROWS * out);
    par::try_for_each((0..tiles.len(), (tiles, &mut *work)), inp.par, tile_task)?;
    if seg.bias {
        if !onto {
            gb.fill(0.0);
        }
        in_shard_order(inp.shards, |sh, _| k.col_sums(gb, &sh.delta[l][..sh.rows.len() * out]))?;
    }
    if let Some(norm) = norm {
        norm.tiles(l, seg.tiles.start, work[..seg.tiles.len()].iter().map(|w| w.sq));
        if seg.bias {
            norm.bias(l, k.sum_squares(gb));
        }
    }
    Ok(())
}

/// The squares of a finished segment `g` of the gradient (of a network of
/// `sizes`), tile by tile and its bias, noted in `norm`: the same values
/// [`segment_gradients`] notes for the rank that finishes the segment.
pub(crate) fn segment_squares(g: &[f32], seg: &Segment, sizes: &[usize], k: &Kernels, norm: &mut SquaredNorm) {
    let (l, out) = (seg.layer, sizes[seg.layer + 1]);
    let (gw, gb) = g.split_at(seg.weight_rows(sizes) * out);
    norm.tiles(l, seg.tiles.start, gw.chunks(TILE_ROWS * out).map(|t| k.sum_squares(t)));
    if seg.bias {
        norm.bias(l, k.sum_squares(gb));
    }
}

/// Writes the gradient of the batch objective into `grads` (laid out like
/// the parameters) from the shards of one process, a segment a layer.
/// Returns the squared global norm `Σ g²` (NaN or infinite when a gradient
/// is).
pub(crate) fn weight_gradients(
    grads: &mut [f32],
    inp: &GradInputs<'_>,
    work: &mut [TileWork],
    norm: &mut SquaredNorm,
) -> Result<f64> {
    let sizes = inp.mlp.sizes();
    norm.clear();
    for seg in segments(sizes, usize::MAX) {
        segment_gradients(&mut grads[seg.range(sizes)], &seg, false, inp, work, Some(&mut *norm))?;
    }
    Ok(norm.total())
}
