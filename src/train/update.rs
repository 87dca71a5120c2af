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

/// The parameters and optimizer slots of a step, or values of them at the
/// same place: `.0` the parameters, `.1` the slots (each empty, or as long
/// as the parameters).
pub(crate) type State<'a> = (&'a [f32], [&'a [f32]; 2]);

/// [`update`] into other memory: `next` (as laid out as `now`) becomes
/// `now` updated from `grads`, `now` unchanged; each chunk is copied over,
/// then updated while in cache, so it costs what an update in place does.
pub(crate) fn update_into(
    (params, [m, v]): (&mut [f32], [&mut [f32]; 2]),
    now: State<'_>,
    grads: &[f32],
    s: &Step<'_>,
) -> Result<()> {
    each_chunk(params, grads, [m, v], s.par, |i, p, g, slots| {
        let from = i * CHUNK..i * CHUNK + p.len();
        p.copy_from_slice(&now.0[from.clone()]);
        for (to, was) in [&mut *slots.m, &mut *slots.v].into_iter().zip(now.1) {
            if !to.is_empty() {
                to.copy_from_slice(&was[from.clone()]);
            }
        }
        s.opt.update(p, g, slots, s.lr, s.step, s.scale)
    })
}
