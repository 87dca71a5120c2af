//! The update: the optimizer over every parameter, in chunks across the
//! team. The optimizers are elementwise, so the chunking changes no value.

use crate::error::Result;
use crate::exec::{Chunks, ChunksMut, Team};
use crate::optim::{Optimizer, Slots, UpdateStep};

/// Parameters per update task: large enough to be worth a task, small
/// enough to spread a layer over the pool.
const CHUNK: usize = 1 << 15;

/// One update: the optimizer, its scalars and the gradients it applies.
pub(crate) struct Step<'a> {
    pub opt: &'a dyn Optimizer,
    pub at: UpdateStep,
    /// Laid out like the parameters.
    pub grads: &'a [f32],
}

/// Updates `params` by the step `s` and the optimizer `slots` (each empty,
/// or laid out like the parameters), in chunks across `team`.
pub(crate) fn update(params: &mut [f32], slots: &mut [Vec<f32>; 2], s: &Step<'_>, team: Team<'_>) -> Result<()> {
    let [m, v] = slots;
    let n = params.len().div_ceil(CHUNK);
    let chunks = (ChunksMut::new(params, CHUNK), Chunks::new(s.grads, CHUNK));
    let slots = (ChunksMut::padded(m, CHUNK, n), ChunksMut::padded(v, CHUNK, n));
    team.try_for_each((chunks, slots), |((p, g), (m, v))| s.opt.update(p, g, Slots { m, v }, s.at))
}
