//! Backward through one shard: the deltas down the layers,
//!
//! ```text
//! δ_{l-1} = (δ_l·W_lᵀ) ⊙ f'(h_{l-1})      columns of δ_{l-1} in blocks across the shard's team
//! ```
//!
//! from the head's `δ_L` to the first layer's, each packed for the weight
//! gradient as soon as it is made, while it is in cache. `Wᵀ` comes packed
//! with the step's weights.

use crate::error::Result;
use crate::kernels::gemm::{MatMut, MatRef, PackedB};
use crate::layers::{dense_backward, BackwardParams, Engine};
use crate::net::{block_width, with_scratch, ColBlocks, Net, Work};

/// A shard's deltas: `delta[l]` (rows × sizes[l+1]) and their copies packed
/// for the weight gradient, for `rows` rows whose inputs are mostly zeros
/// when `sparse` (the first layer's gradient then reads its δ as it lies).
pub(crate) struct Deltas<'a> {
    pub delta: &'a mut [Vec<f32>],
    pub packed: &'a mut [PackedB],
    pub rows: usize,
    pub sparse: bool,
}

/// The deltas of every layer below the last, from `delta[last]` (the
/// head's), given the activations `h` forward kept: `δ_{l-1} = (δ_l·W_lᵀ)
/// ⊙ f'(h_{l-1})`. Each `δ_l` is packed once it is complete.
pub(crate) fn backward(d: Deltas<'_>, h: &[Vec<f32>], net: &Net<'_>, work: &mut Work<'_, '_>) -> Result<()> {
    let (sizes, n, team) = (net.sizes, d.rows, work.team);
    for l in (0..net.layers()).rev() {
        if l + 1 < net.layers() {
            let (inn, w) = (sizes[l + 1], sizes[l + 2]);
            let (below, above) = d.delta.split_at_mut(l + 1);
            let dl = MatRef::new(&above[0][..n * w], n, w)?;
            let hv = MatRef::new(&h[l][..n * inn], n, inn)?;
            let (wt, act) = (net.wt(l + 1)?, net.activation);
            let blocks = ColBlocks::new(
                MatMut::new(&mut below[l][..n * inn], n, inn)?,
                block_width(inn, team.threads(), net.mode),
            );
            team.try_for_each(with_scratch(blocks, work.scratch)?, |((blk, j0), s)| {
                let c = blk.cols();
                let p = BackwardParams { wt: wt.cols(j0, c)?, h: hv.cols_range(j0, c), act };
                dense_backward(blk, dl, p, Engine { kernels: &net.kernels, scratch: s })
            })?;
        }
        if l == 0 && d.sparse {
            continue;
        }
        let w = sizes[l + 1];
        d.packed[l].pack_on(MatRef::new(&d.delta[l][..n * w], n, w)?, net.mode, team)?;
    }
    Ok(())
}
