//! The update: the optimizer over every parameter, in chunks on the pool.
//! The optimizers are elementwise, so the chunking changes no value.

use crate::error::Result;
use crate::optim::{Optimizer, Slots};
use rayon::iter::Either;
use rayon::prelude::*;

/// Parameters per update task: large enough to be worth a task, small
/// enough to spread a layer over the pool.
const CHUNK: usize = 1 << 15;

/// The scalars of one update.
pub(crate) struct Step<'a> {
    pub opt: &'a dyn Optimizer,
    pub lr: f64,
    pub step: u64,
    /// Gradient clipping factor (1: none).
    pub scale: f32,
    pub par: bool,
}

/// A slot's chunks: empty slices for an unused (empty) slot.
fn slot_chunks(slot: &mut [f32], n: usize) -> impl IndexedParallelIterator<Item = &mut [f32]> {
    if slot.is_empty() {
        Either::Left(rayon::iter::repeat_n((), n).map(|()| -> &mut [f32] { &mut [] }))
    } else {
        Either::Right(slot.par_chunks_mut(CHUNK))
    }
}

/// [`slot_chunks`] without rayon.
fn slot_chunks_seq(slot: &mut [f32], n: usize) -> impl Iterator<Item = &mut [f32]> {
    if slot.is_empty() {
        Either::Left(std::iter::repeat_n((), n).map(|()| -> &mut [f32] { &mut [] }))
    } else {
        Either::Right(slot.chunks_mut(CHUNK))
    }
}

type Chunk<'a> = (((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);

/// Updates `params` from `grads` and the optimizer `slots` (each empty, or
/// laid out like the parameters).
pub(crate) fn update(params: &mut [f32], grads: &[f32], slots: &mut [Vec<f32>; 2], s: &Step<'_>) -> Result<()> {
    let [m, v] = slots;
    let n = params.len().div_ceil(CHUNK);
    let one = |(((p, g), m), v): Chunk<'_>| s.opt.update(p, g, Slots { m, v }, s.lr, s.step, s.scale);
    if s.par {
        let chunks = params.par_chunks_mut(CHUNK).zip(grads.par_chunks(CHUNK));
        chunks.zip(slot_chunks(m, n)).zip(slot_chunks(v, n)).try_for_each(one)
    } else {
        let chunks = params.chunks_mut(CHUNK).zip(grads.chunks(CHUNK));
        chunks.zip(slot_chunks_seq(m, n)).zip(slot_chunks_seq(v, n)).try_for_each(one)
    }
}
