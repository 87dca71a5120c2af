//! The reduction over shards: each layer's gradient is the sum of its
//! shards' gradients, added in shard order,
//!
//! ```text
//! ∂E/∂W_l = Σ_s h_{l-1,s}ᵀ · δ_{l,s}        ∂E/∂b_l = Σ_s Σ_rows δ_{l,s}
//! ```
//!
//! computed tile by tile: a tile is a block of rows of `∂E/∂W_l`, and each
//! tile task runs shard 0's product into it, then adds shard 1's, and so on.
//! No shard keeps a gradient of its own (which would cost a copy of the
//! weights per shard and a pass to add them up), and a tile's bits depend on
//! the shard cut and the shard order only: never on the thread that ran it.

use super::workspace::Shard;
use crate::error::Result;
use crate::kernels::gemm::{GemmScratch, MatRef};
use crate::kernels::Kernels;
use crate::layers::dense_grad;
use crate::model::{layer_ranges, Mlp};
use rayon::prelude::*;

/// Rows of `∂E/∂W` per tile task.
pub(crate) const TILE_ROWS: usize = 96;

/// One tile task's workspace: packing space, and the squared norm of the
/// tile it last computed (the squared norms of the tiles add up, in tile
/// order, to the global one, which clipping and the divergence check use).
#[derive(Default)]
pub(crate) struct TileWork {
    scratch: GemmScratch,
    sq: f64,
}

/// Tile tasks needed for the widest layer input of `sizes`: how many
/// [`TileWork`]s [`reduce_gradients`] needs.
pub(crate) fn tiles_needed(sizes: &[usize]) -> usize {
    sizes[..sizes.len() - 1].iter().map(|s| s.div_ceil(TILE_ROWS)).max().unwrap_or(1)
}

/// Writes the gradient of the batch objective into `grads` (laid out like
/// the parameters) from the shards; `x` is the batch's inputs. Returns the
/// squared global norm `Σ g²` (NaN or infinite when a gradient is).
pub(crate) fn reduce_gradients(
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
        debug_assert!(work.len() >= inn.div_ceil(TILE_ROWS));
        let tiles = inn.div_ceil(TILE_ROWS);
        let tile_task = |(i, (tile, w)): (usize, (&mut [f32], &mut TileWork))| -> Result<()> {
            let (r0, tr) = (i * TILE_ROWS, tile.len() / out);
            for (s, sh) in shards.iter().enumerate() {
                let n = sh.rows.len();
                let src = if l == 0 { &x[sh.rows.start * inn..sh.rows.end * inn] } else { &sh.h[l - 1][..n * inn] };
                // Rows r0..r0+tr of srcᵀ, by strides.
                let a = MatRef::with_strides(&src[r0..], tr, n, 1, inn)?;
                dense_grad(tile, a, &sh.packed_delta[l], s > 0, &mut w.scratch)?;
            }
            // While the tile is in cache.
            w.sq = k.sum_squares(tile);
            Ok(())
        };
        if par {
            gw.par_chunks_mut(TILE_ROWS * out).zip(work.par_iter_mut()).enumerate().try_for_each(tile_task)?;
        } else {
            gw.chunks_mut(TILE_ROWS * out).zip(work.iter_mut()).enumerate().try_for_each(tile_task)?;
        }
        sq += work[..tiles].iter().map(|w| w.sq).sum::<f64>();
        gb.fill(0.0);
        for sh in shards {
            k.col_sums(gb, &sh.delta[l][..sh.rows.len() * out])?;
        }
        sq += k.sum_squares(gb);
    }
    Ok(sq)
}
