//! The update: the optimizer over every parameter, in chunks on the pool.
//! The optimizers are elementwise, so the chunking changes no value.

use crate::error::Result;
use crate::optim::{Optimizer, Slots, State};
use crate::par::{self, Chunks, ChunksMut};
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

/// `each(chunk, g, slots)` over the chunks of `params`, with the same
/// chunks of `grads` and of `slots` (each empty, or as long as `params`;
/// an empty one gives empty chunks): `chunk` is the chunk's index.
fn each_chunk(
    params: &mut [f32],
    grads: &[f32],
    [m, v]: [&mut [f32]; 2],
    par: bool,
    each: impl Fn(usize, &mut [f32], &[f32], Slots<'_>) -> Result<()> + Sync,
) -> Result<()> {
    let n = params.len().div_ceil(CHUNK);
    let chunks = (ChunksMut::new(params, CHUNK), Chunks::new(grads, CHUNK));
    let slots = (ChunksMut::padded(m, CHUNK, n), ChunksMut::padded(v, CHUNK, n));
    par::try_for_each((0..n, (chunks, slots)), par, |(i, ((p, g), (m, v)))| each(i, p, g, Slots { m, v }))
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
