//! One shard's pass: forward through every layer, the fused head, then the
//! deltas backward down to the first hidden layer. Everything a shard writes
//! lives in its own [`Shard`] workspace; the weights it reads are packed
//! once per step and shared.

use super::workspace::{PackedWeights, Shard};
use crate::error::Result;
use crate::kernels::gemm::{gemm, gemm_path, MatMut, MatRef};
use crate::kernels::Kernels;
use crate::layers::{dense_backward, dense_forward};
use crate::model::Mlp;

/// What every shard of a step shares.
pub(crate) struct StepInputs<'a> {
    pub mlp: &'a Mlp,
    pub packed: &'a PackedWeights,
    /// The whole batch, rows × inputs.
    pub x: &'a [f32],
    /// The whole batch's targets, rows × outputs.
    pub t: &'a [f32],
    /// `1/B`: the objective is the mean error over the batch.
    pub scale: f32,
    pub kernels: Kernels,
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
    let x = &inp.x[sh.rows.start * sizes[0]..sh.rows.end * sizes[0]];
    let t = &inp.t[sh.rows.start * sizes[last + 1]..sh.rows.end * sizes[last + 1]];
    let k = &inp.kernels;

    // Forward: h[l] = f(h[l-1]·W_l + b_l); the output layer keeps its logits.
    for l in 0..=last {
        let (done, rest) = sh.h.split_at_mut(l);
        let src = if l == 0 { x } else { &done[l - 1][..n * sizes[l]] };
        let src = MatRef::new(src, n, sizes[l])?;
        let out = &mut rest[0][..n * sizes[l + 1]];
        if l < last {
            let bias = mlp.layer(l).expect("layer exists").bias;
            dense_forward(out, src, &inp.packed.w[l], bias, Some(mlp.activation()), k, &mut sh.scratch)?;
        } else {
            gemm(src, &inp.packed.w[l], MatMut::new(out, n, sizes[l + 1])?, false, &mut sh.scratch)?;
        }
    }

    // Head: y, the errors and δ_L = (y - t)/B in one pass.
    let out_bias = mlp.layer(last).expect("layer exists").bias;
    let y = &mut sh.h[last][..n * sizes[last + 1]];
    let d = &mut sh.delta[last][..n * sizes[last + 1]];
    mlp.head().forward_loss(k, y, out_bias, t, d, &mut sh.loss[..n], inp.scale)?;

    // Backward: δ_{l-1} = (δ_l·W_lᵀ) ⊙ f'(h_{l-1}), each δ packed as soon as
    // it is complete, while it is still in cache.
    let path = gemm_path();
    for l in (0..=last).rev() {
        let w = sizes[l + 1];
        let dl = MatRef::new(&sh.delta[l][..n * w], n, w)?;
        sh.packed_delta[l].pack(dl, path);
        if l > 0 {
            let (below, above) = sh.delta.split_at_mut(l);
            let dl = MatRef::new(&above[0][..n * w], n, w)?;
            let din = &mut below[l - 1][..n * sizes[l]];
            let h = &sh.h[l - 1][..n * sizes[l]];
            dense_backward(din, dl, &inp.packed.wt[l], h, mlp.activation(), k, &mut sh.scratch)?;
        }
    }
    Ok(())
}
