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
use super::reduce::{in_shard_order, squared_norm};
use super::shards::Shard;
use crate::error::Result;
use crate::kernels::gemm::{gemm_path, GemmScratch, MatMut, MatRef};
use crate::kernels::Kernels;
use crate::layers::{dense_backward, dense_grad};
use crate::model::{layer_ranges, Mlp};
use rayon::prelude::*;

/// The deltas of one shard from `delta[last]` (the head's) down to the
/// first hidden layer, each packed for the weight gradient.
pub(crate) fn backward_deltas(sh: &mut Shard, mlp: &Mlp, ctx: &Ctx<'_>) -> Result<()> {
    let sizes = mlp.sizes();
    let n = sh.rows.len();
    let par = ctx.threads > 1;
    let Shard { h, delta, packed_delta, packed_input, .. } = sh;
    for l in (0..mlp.num_layers()).rev() {
        let w = sizes[l + 1];
        packed_delta[l].pack_with(MatRef::new(&delta[l][..n * w], n, w)?, gemm_path(), par)?;
        if l == 0 {
            break;
        }
        let (below, above) = delta.split_at_mut(l);
        let width = block_width(sizes[l], ctx.threads);
        let dl = MatRef::new(&above[0][..n * w], n, w)?;
        let dl = shared_input(dl, sizes[l].div_ceil(width), Some(&mut *packed_input), par)?;
        let din = MatMut::new(&mut below[l - 1][..n * sizes[l]], n, sizes[l])?;
        let hv = MatRef::new(&h[l - 1][..n * sizes[l]], n, sizes[l])?;
        let wt = MatRef::new(mlp.layer(l).expect("layer exists").weight, sizes[l], w)?.t();
        let act = mlp.activation();
        let block = |blk: MatMut<'_>, j0: usize| {
            let c = blk.cols();
            ctx.scratch
                .with(|s| dense_backward(blk, dl, wt.cols_range(j0, c), hv.cols_range(j0, c), act, &ctx.kernels, s))
        };
        for_col_blocks(din, 0, width, par, &block)?;
    }
    Ok(())
}

/// Rows of `∂E/∂W` per tile task.
pub(crate) const TILE_ROWS: usize = 96;

/// One tile task's workspace: packing space, and the squared norm of the
/// tile it last computed.
#[derive(Default)]
pub(crate) struct TileWork {
    scratch: GemmScratch,
    pub sq: f64,
}

/// Tile tasks needed for the widest layer input of `sizes`: how many
/// [`TileWork`]s [`weight_gradients`] needs.
pub(crate) fn tiles_needed(sizes: &[usize]) -> usize {
    sizes[..sizes.len() - 1].iter().map(|s| s.div_ceil(TILE_ROWS)).max().unwrap_or(1)
}

/// Writes the gradient of the batch objective into `grads` (laid out like
/// the parameters) from the shards' deltas; `x` is the batch's inputs.
/// Returns the squared global norm `Σ g²` (NaN or infinite when a gradient
/// is).
pub(crate) fn weight_gradients(
    grads: &mut [f32],
    shards: &[Shard],
    x: &[f32],
    mlp: &Mlp,
    work: &mut [TileWork],
    k: &Kernels,
    par: bool,
) -> Result<f64> {
    let sizes = mlp.sizes();
    let mut sq = 0.0f64;
    for l in 0..mlp.num_layers() {
        let (wr, br) = layer_ranges(sizes, l);
        let (inn, out) = (sizes[l], sizes[l + 1]);
        let (gw, gb) = grads[wr.start..br.end].split_at_mut(wr.len());
        let tiles = inn.div_ceil(TILE_ROWS);
        debug_assert!(work.len() >= tiles);
        let tile_task = |(i, (tile, w)): (usize, (&mut [f32], &mut TileWork))| -> Result<()> {
            let (r0, tr) = (i * TILE_ROWS, tile.len() / out);
            in_shard_order(shards, |sh, accumulate| {
                let n = sh.rows.len();
                let src = if l == 0 { &x[sh.rows.start * inn..sh.rows.end * inn] } else { &sh.h[l - 1][..n * inn] };
                // Rows r0..r0+tr of srcᵀ, by strides.
                let a = MatRef::with_strides(&src[r0..], tr, n, 1, inn)?;
                dense_grad(tile, a, &sh.packed_delta[l], accumulate, &mut w.scratch)
            })?;
            // While the tile is in cache.
            w.sq = k.sum_squares(tile);
            Ok(())
        };
        if par {
            gw.par_chunks_mut(TILE_ROWS * out).zip(work.par_iter_mut()).enumerate().try_for_each(tile_task)?;
        } else {
            gw.chunks_mut(TILE_ROWS * out).zip(work.iter_mut()).enumerate().try_for_each(tile_task)?;
        }
        sq += squared_norm(work[..tiles].iter().map(|w| w.sq));
        gb.fill(0.0);
        in_shard_order(shards, |sh, _| k.col_sums(gb, &sh.delta[l][..sh.rows.len() * out]))?;
        sq += k.sum_squares(gb);
    }
    Ok(sq)
}
