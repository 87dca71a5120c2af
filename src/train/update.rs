//! The update, fused with re-packing the weights for the next step.
//!
//! Each layer's `W` (in × out, row-major) is updated in bands of `NR` rows,
//! the GEMM's panel width: as soon as a band is updated, while it is in
//! cache, it is transposed into its panel of the packed `Wᵀ` (a band of
//! `W` is exactly one panel of `Wᵀ`), so the next step's input gradients
//! need no separate packing pass over `W`. The forward pass's packed `W`
//! (a plain copy of column runs) is refreshed right after each layer. Bands
//! are independent tasks on the pool.

use super::workspace::PackedWeights;
use crate::error::Result;
use crate::kernels::gemm::{fill_panel_transposed, gemm_path, GemmPath, MatRef, PackedB};
use crate::model::{layer_ranges, Mlp};
use crate::optim::{Optimizer, Slots};
use rayon::iter::Either;
use rayon::prelude::*;

/// The scalars of one update.
pub(crate) struct Step<'a> {
    pub opt: &'a dyn Optimizer,
    pub lr: f64,
    pub step: u64,
    /// Gradient clipping factor (1: none).
    pub scale: f32,
    pub par: bool,
}

/// Packs every layer's `W` (forward) and `Wᵀ` (input gradient; layer 0 has
/// none), in parallel when `par`: the first step, or after the parameters
/// were changed from outside.
pub(crate) fn pack_weights(mlp: &Mlp, packed: &mut PackedWeights, par: bool) -> Result<()> {
    let path = gemm_path();
    for l in 0..mlp.num_layers() {
        let layer = mlp.layer(l).expect("one packed slot per layer");
        let m = MatRef::new(layer.weight, layer.inputs, layer.outputs)?;
        packed.w[l].pack_with(m, path, par);
        if l > 0 {
            packed.wt[l].pack_with(m.t(), path, par);
        }
    }
    Ok(())
}

/// A slot's chunks for `n` bands of `len` values: empty slices for an
/// unused (empty) slot.
fn slot_chunks(slot: &mut [f32], n: usize, len: usize) -> impl IndexedParallelIterator<Item = &mut [f32]> {
    if slot.is_empty() {
        Either::Left(rayon::iter::repeat_n((), n).map(|()| -> &mut [f32] { &mut [] }))
    } else {
        Either::Right(slot.par_chunks_mut(len))
    }
}

/// [`slot_chunks`] without rayon.
fn slot_chunks_seq(slot: &mut [f32], n: usize, len: usize) -> impl Iterator<Item = &mut [f32]> {
    if slot.is_empty() {
        Either::Left(std::iter::repeat_n((), n).map(|()| -> &mut [f32] { &mut [] }))
    } else {
        Either::Right(slot.chunks_mut(len))
    }
}

/// `slot[range]`, or an empty slice for an unused slot.
fn part(slot: &mut [f32], range: std::ops::Range<usize>) -> &mut [f32] {
    if slot.is_empty() {
        &mut []
    } else {
        &mut slot[range]
    }
}

/// One band: the optimizer over its weights, then (when `panel` is given)
/// the band transposed into its panel of the packed `Wᵀ`.
type Band<'a> = ((((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]), Option<&'a mut [f32]>);

/// Updates every parameter of `mlp`'s layout in `params` from `grads` and
/// the optimizer `slots`, and re-packs `packed` to match.
pub(crate) fn update_and_repack(
    sizes: &[usize],
    params: &mut [f32],
    grads: &[f32],
    slots: &mut [Vec<f32>; 2],
    packed: &mut PackedWeights,
    s: &Step<'_>,
) -> Result<()> {
    let path = gemm_path();
    let (_, nr) = path.tile();
    let [m, v] = slots;
    for l in 0..sizes.len() - 1 {
        let (wr, br) = layer_ranges(sizes, l);
        let (inn, out) = (sizes[l], sizes[l + 1]);
        let band = nr * out;
        let bands = inn.div_ceil(nr);
        let panels = if l > 0 { packed.wt[l].panels_mut(out, inn, path) } else { None };
        let one = |((((p, g), m), v), panel): Band<'_>| -> Result<()> {
            s.opt.update(p, g, Slots { m, v }, s.lr, s.step, s.scale)?;
            match panel {
                Some(panel) => fill_panel_transposed(panel, p, out),
                None => Ok(()),
            }
        };
        let (pw, gw) = (&mut params[wr.clone()], &grads[wr.clone()]);
        let (mw, vw) = (part(m, wr.clone()), part(v, wr.clone()));
        if s.par {
            let panels = match panels {
                Some((buf, len)) => Either::Left(buf.par_chunks_exact_mut(len).map(Some)),
                None => Either::Right(rayon::iter::repeat_n((), bands).map(|()| None)),
            };
            let chunks = pw.par_chunks_mut(band).zip(gw.par_chunks(band));
            chunks.zip(slot_chunks(mw, bands, band)).zip(slot_chunks(vw, bands, band)).zip(panels).try_for_each(one)?;
        } else {
            let panels = match panels {
                Some((buf, len)) => Either::Left(buf.chunks_exact_mut(len).map(Some)),
                None => Either::Right(std::iter::repeat_n((), bands).map(|()| None)),
            };
            let chunks = pw.chunks_mut(band).zip(gw.chunks(band));
            chunks
                .zip(slot_chunks_seq(mw, bands, band))
                .zip(slot_chunks_seq(vw, bands, band))
                .zip(panels)
                .try_for_each(one)?;
        }
        let slots = Slots { m: part(m, br.clone()), v: part(v, br.clone()) };
        s.opt.update(&mut params[br.clone()], &grads[br], slots, s.lr, s.step, s.scale)?;
        let w = MatRef::new(&params[wr], inn, out)?;
        repack(&mut packed.w[l], w, l, &mut packed.wt, path, s.par);
    }
    Ok(())
}

/// The forward pass's packed `W` from the updated weights; for
/// matrixmultiply (no panels), `Wᵀ` too.
fn repack(pw: &mut PackedB, w: MatRef<'_>, l: usize, wt: &mut [PackedB], path: GemmPath, par: bool) {
    pw.pack_with(w, path, par);
    if l > 0 && path == GemmPath::MatrixMultiply {
        wt[l].pack_with(w.t(), path, par);
    }
}
