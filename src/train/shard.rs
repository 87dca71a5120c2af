//! One shard's pass: forward through every layer, the fused head, then the
//! deltas backward down to the first hidden layer. Everything a shard writes
//! lives in its own [`Shard`] workspace; it reads the weights in place
//! (the GEMM packs each block of them as it reaches it).
//!
//! Inside a shard each layer is cut into blocks of output columns, run in
//! parallel on the pool when there is one: shards give coarse parallelism,
//! column blocks let a few large shards (whose GEMMs are efficient) still
//! use every thread. Neither cut changes a single value.

use super::workspace::{ScratchPool, Shard};
use crate::error::Result;
use crate::kernels::gemm::{gemm_path, GemmPath, MatMut, MatRef};
use crate::kernels::Kernels;
use crate::layers::{dense_backward, dense_forward};
use crate::model::Mlp;
use rayon::prelude::*;

/// What every shard of a step shares.
pub(crate) struct StepInputs<'a> {
    pub mlp: &'a Mlp,
    /// The whole batch, rows × inputs.
    pub x: &'a [f32],
    /// The whole batch's targets, rows × outputs.
    pub t: &'a [f32],
    /// `1/B`: the objective is the mean error over the batch.
    pub scale: f32,
    pub kernels: Kernels,
    /// GEMM packing space, one per thread.
    pub scratch: &'a ScratchPool,
    /// Threads in the pool (1: run everything on the caller).
    pub threads: usize,
}

/// Columns per parallel block: one block per thread (each block packs the
/// whole A for itself, so fewer blocks pack less; against two per thread,
/// median of the best steps over 5 alternating runs, twice: M T=2 101 → 113
/// and 128 → 137 GFLOP/s, L 101 → 114 and 139 → 141), whole panels of the
/// GEMM, and never fewer than four panels (so a block is worth a task).
fn block_width(n: usize, threads: usize) -> usize {
    let (path, (_, nr)) = (gemm_path(), gemm_path().tile());
    if threads <= 1 || path == GemmPath::MatrixMultiply {
        return n.max(1);
    }
    n.div_ceil(threads).div_ceil(nr).max(4) * nr
}

/// Rows for the head: ((outputs, deltas), (targets, errors)).
type HeadRows<'a> = ((&'a mut [f32], &'a mut [f32]), (&'a [f32], &'a mut [f32]));

type BlockFn<'f> = dyn Fn(MatMut<'_>, usize) -> Result<()> + Sync + 'f;

/// Runs `f(block, first column)` over blocks of `width` columns of `c`,
/// splitting in halves with `rayon::join` when `par`.
fn for_col_blocks(c: MatMut<'_>, j0: usize, width: usize, par: bool, f: &BlockFn<'_>) -> Result<()> {
    if c.cols() <= width {
        return f(c, j0);
    }
    let half = (c.cols() / width).div_ceil(2) * width;
    let (left, right) = c.split_at_col(half);
    if par {
        let (a, b) =
            rayon::join(|| for_col_blocks(left, j0, width, par, f), || for_col_blocks(right, j0 + half, width, par, f));
        a.and(b)
    } else {
        for_col_blocks(left, j0, width, par, f)?;
        for_col_blocks(right, j0 + half, width, par, f)
    }
}

/// Forward, head and backward for the rows `sh.rows` of the batch.
///
/// Leaves `h[l]` (activations, y in the last), `delta[l]` and its packed
/// copy for every layer, and each row's error in `loss`.
pub(crate) fn shard_pass(sh: &mut Shard, inp: &StepInputs<'_>) -> Result<()> {
    let mlp = inp.mlp;
    let sizes = mlp.sizes();
    let last = mlp.num_layers() - 1;
    let n = sh.rows.len();
    if n == 0 {
        return Ok(());
    }
    let par = inp.threads > 1;
    let x = &inp.x[sh.rows.start * sizes[0]..sh.rows.end * sizes[0]];
    let t = &inp.t[sh.rows.start * sizes[last + 1]..sh.rows.end * sizes[last + 1]];
    let Shard { h, delta, packed_delta, loss, .. } = sh;

    // Forward: h[l] = f(h[l-1]·W_l + b_l); the output layer keeps its logits.
    for l in 0..=last {
        let (done, rest) = h.split_at_mut(l);
        let src = if l == 0 { x } else { &done[l - 1][..n * sizes[l]] };
        let src = MatRef::new(src, n, sizes[l])?;
        let out = MatMut::new(&mut rest[0][..n * sizes[l + 1]], n, sizes[l + 1])?;
        let layer = mlp.layer(l).expect("layer exists");
        let (w, bias) = (MatRef::new(layer.weight, sizes[l], sizes[l + 1])?, layer.bias);
        let act = (l < last).then_some(mlp.activation());
        let block = |blk: MatMut<'_>, j0: usize| {
            let c = blk.cols();
            let b = if l < last { &bias[j0..j0 + c] } else { &[][..] };
            inp.scratch.with(|s| dense_forward(blk, src, w.cols_range(j0, c), b, act, &inp.kernels, s))
        };
        for_col_blocks(out, 0, block_width(sizes[l + 1], inp.threads), par, &block)?;
    }

    // Head: y, the errors and δ_L = (y - t)/B in one pass, rows in parallel.
    let o = sizes[last + 1];
    let out_bias = mlp.layer(last).expect("layer exists").bias;
    let (y, d) = (&mut h[last][..n * o], &mut delta[last][..n * o]);
    let head = |((y, d), (t, l)): HeadRows<'_>| mlp.head().forward_loss(&inp.kernels, y, out_bias, t, d, l, inp.scale);
    const HEAD_ROWS: usize = 32;
    let (yc, dc, tc, lc) = (HEAD_ROWS * o, HEAD_ROWS * o, HEAD_ROWS * o, HEAD_ROWS);
    if par {
        y.par_chunks_mut(yc)
            .zip(d.par_chunks_mut(dc))
            .zip(t.par_chunks(tc).zip(loss[..n].par_chunks_mut(lc)))
            .try_for_each(head)?;
    } else {
        y.chunks_mut(yc).zip(d.chunks_mut(dc)).zip(t.chunks(tc).zip(loss[..n].chunks_mut(lc))).try_for_each(head)?;
    }

    // Backward: δ_{l-1} = (δ_l·W_lᵀ) ⊙ f'(h_{l-1}), each δ packed for the
    // weight gradient as soon as it is complete, while it is in cache.
    let path = gemm_path();
    for l in (0..=last).rev() {
        let w = sizes[l + 1];
        packed_delta[l].pack_with(MatRef::new(&delta[l][..n * w], n, w)?, path, par)?;
        if l == 0 {
            break;
        }
        let (below, above) = delta.split_at_mut(l);
        let dl = MatRef::new(&above[0][..n * w], n, w)?;
        let din = MatMut::new(&mut below[l - 1][..n * sizes[l]], n, sizes[l])?;
        let hv = MatRef::new(&h[l - 1][..n * sizes[l]], n, sizes[l])?;
        let wt = MatRef::new(mlp.layer(l).expect("layer exists").weight, sizes[l], w)?.t();
        let act = mlp.activation();
        let block = |blk: MatMut<'_>, j0: usize| {
            let c = blk.cols();
            inp.scratch
                .with(|s| dense_backward(blk, dl, wt.cols_range(j0, c), hv.cols_range(j0, c), act, &inp.kernels, s))
        };
        for_col_blocks(din, 0, block_width(sizes[l], inp.threads), par, &block)?;
    }
    Ok(())
}
