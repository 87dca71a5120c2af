//! The update: the optimizer over every parameter, in chunks on the pool.
//! The optimizers are elementwise, so the chunking changes no value.

use crate::error::Result;
use crate::optim::{Optimizer, Slots, State};
use rayon::iter::Either;
use rayon::prelude::*;
use std::ops::Range;

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

/// `each(chunk, g, slots)` over the chunks of `params`, with the same
/// chunks of `grads` and of `slots` (each empty, or as long as `params`):
/// `chunk` is the chunk's index.
fn each_chunk(
    params: &mut [f32],
    grads: &[f32],
    [m, v]: [&mut [f32]; 2],
    par: bool,
    each: impl Fn(usize, &mut [f32], &[f32], Slots<'_>) -> Result<()> + Sync,
) -> Result<()> {
    let n = params.len().div_ceil(CHUNK);
    let one = |(i, (((p, g), m), v)): (usize, Chunk<'_>)| each(i, p, g, Slots { m, v });
    if par {
        let chunks = params.par_chunks_mut(CHUNK).zip(grads.par_chunks(CHUNK));
        chunks.zip(slot_chunks(m, n)).zip(slot_chunks(v, n)).enumerate().try_for_each(one)
    } else {
        let chunks = params.chunks_mut(CHUNK).zip(grads.chunks(CHUNK));
        chunks.zip(slot_chunks_seq(m, n)).zip(slot_chunks_seq(v, n)).enumerate().try_for_each(one)
    }
}

/// Updates `params` from `grads` and the optimizer `slots` (each empty, or
/// laid out like the parameters).
pub(crate) fn update(params: &mut [f32], grads: &[f32], slots: &mut [Vec<f32>; 2], s: &Step<'_>) -> Result<()> {
    let [m, v] = slots;
    each_chunk(params, grads, [m, v], s.par, |_, p, g, slots| s.opt.update(p, g, slots, s.lr, s.step, s.scale))
}

/// [`update`] into other memory: `next` (laid out as `now`) becomes `now`
/// updated from `grads`, `now` unchanged, in one pass per chunk that reads
/// the old state and writes the new ([`Optimizer::update_from`]): no copy
/// first.
pub(crate) fn update_into(
    (params, [m, v]): (&mut [f32], [&mut [f32]; 2]),
    (w0, [m0, v0]): State<'_>,
    grads: &[f32],
    s: &Step<'_>,
) -> Result<()> {
    each_chunk(params, grads, [m, v], s.par, |i, p, g, slots| {
        let from = i * CHUNK..i * CHUNK + p.len();
        let now = (&w0[from.clone()], [slot_part(m0, &from), slot_part(v0, &from)]);
        s.opt.update_from(now, p, g, slots, s.lr, s.step, s.scale)
    })
}

/// Values `r` of an optimizer slot, or the empty slot.
pub(crate) fn slot_part<'a>(slot: &'a [f32], r: &Range<usize>) -> &'a [f32] {
    if slot.is_empty() {
        slot
    } else {
        &slot[r.clone()]
    }
}

/// [`slot_part`], mutable.
pub(crate) fn slot_part_mut<'a>(slot: &'a mut [f32], r: &Range<usize>) -> &'a mut [f32] {
    if slot.is_empty() {
        slot
    } else {
        &mut slot[r.clone()]
    }
}
