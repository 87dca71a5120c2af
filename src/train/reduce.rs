//! The reduction over shards, in one fixed order: the gradients of a batch
//! are sums over its shards, and the global norm a sum over gradient tiles,
//! each added in the same order whatever thread computed the terms, so that
//! a step's bits depend on the shard cut alone (rayon's maintainers' advice
//! on float sums; STYLE.md's "determinism by construction"); across ranks,
//! the same order through a chain ([`dist`](crate::dist)).

use super::backward::{segment_gradients, segments, GradInputs, Segment, TileWork};
use super::pool::Pool;
use super::shards::Shard;
use crate::dist::{owned_shards, segment_floats, Chain, Collective};
use crate::error::Result;
use std::ops::Range;
use std::time::Instant;

/// `Σ_s term(s)` in shard order: calls `term(shard, accumulate)` for each
/// shard in turn, `accumulate` false for the first (which writes the sum)
/// and true after (which add to it).
pub(crate) fn in_shard_order<S>(shards: &[S], mut term: impl FnMut(&S, bool) -> Result<()>) -> Result<()> {
    shards.iter().enumerate().try_for_each(|(s, sh)| term(sh, s > 0))
}

/// The squared global norm `Σ g²`, in one fixed order: the squares of a
/// layer's weight tiles folded left to right in f64, that layer sum added
/// to the total, then the layer's bias squares.
#[derive(Default)]
pub(crate) struct SquaredNorm {
    total: f64,
    layer: f64,
}

impl SquaredNorm {
    /// Folds in the next tiles of the current layer.
    pub(crate) fn tiles(&mut self, tiles: impl Iterator<Item = f64>) {
        self.layer = tiles.fold(self.layer, |acc, t| acc + t);
    }

    /// Ends the current layer, whose bias squares sum to `bias`.
    pub(crate) fn end_layer(&mut self, bias: f64) {
        self.total += self.layer;
        self.total += bias;
        self.layer = 0.0;
    }

    /// The norm of the layers ended so far.
    pub(crate) fn total(&self) -> f64 {
        self.total
    }
}

/// The row errors of the shards summed in batch order, in f64.
pub(crate) fn loss_sum(shards: &[Shard]) -> f64 {
    shards.iter().flat_map(|sh| &sh.loss[..sh.rows.len()]).fold(0.0, |acc, &v| acc + v as f64)
}

/// The segments of the gradient a chain message carries, and where each
/// lies in it: fixed for a network, made once per trainer.
pub(crate) struct ChainParts {
    pub segments: Vec<Segment>,
    pub ranges: Vec<Range<usize>>,
}

impl ChainParts {
    pub(crate) fn new(sizes: &[usize], ranks: usize) -> Result<ChainParts> {
        let params = crate::model::layer_ranges(sizes, sizes.len() - 2).1.end;
        let max = segment_floats(params, ranks);
        let n = segments(sizes, max).count();
        let (mut segs, mut ranges) = (Vec::new(), Vec::new());
        crate::mem::reserve(&mut segs, n, "chain segments")?;
        crate::mem::reserve(&mut ranges, n, "chain segments")?;
        for seg in segments(sizes, max) {
            ranges.push(seg.range(sizes));
            segs.push(seg);
        }
        Ok(ChainParts { segments: segs, ranges })
    }
}

/// The sum of a distributed step, the same bits as one process's: each rank
/// that owns shards receives every segment of the gradient from the rank
/// before it in the chain (the sums of all earlier shards), adds its own
/// shards' terms onto it in shard order exactly as one process would, and
/// sends it on ([`Collective::relay`]); the last rank sends each segment it
/// finishes on round the ring of the other ranks (last → 0 → 1 → …, copies
/// only, as it goes: no broadcast of the whole gradient at the end), then
/// broadcasts the squared norm, which only it has. Rank `r+1` works on
/// segment `c` while rank `r` computes segment `c+1`.
/// MPI calls stay on the calling thread; each segment's tiles run on
/// `pool`. Returns `Σ g²`; adds the seconds spent in messages (waiting
/// included, working excluded) to `waited`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn chain_gradients(
    comm: &dyn Collective,
    chain: Chain,
    parts: &ChainParts,
    grads: &mut [f32],
    inp: &GradInputs<'_>,
    work: &mut [TileWork],
    pool: &mut Pool,
    waited: &mut f64,
) -> Result<f64> {
    let mut norm = SquaredNorm::default();
    let t0 = Instant::now();
    if chain.member {
        let (onto, mut worked) = (chain.prev.is_some(), 0.0);
        comm.relay(chain.prev, chain.next, grads, &parts.ranges, &mut |i, g| {
            let (t, seg, norm, work) = (Instant::now(), &parts.segments[i], &mut norm, &mut *work);
            let r = pool.run_if(inp.par, || segment_gradients(g, seg, onto, inp, work, norm));
            worked += t.elapsed().as_secs_f64();
            r
        })?;
        *waited -= worked;
    }
    if chain.last != comm.rank() {
        comm.relay(chain.back_prev, chain.back_next, grads, &parts.ranges, &mut |_, _| Ok(()))?;
    }
    let mut sq = norm.total().to_le_bytes();
    comm.broadcast_bytes(chain.last, &mut sq)?;
    *waited += t0.elapsed().as_secs_f64();
    Ok(f64::from_le_bytes(sq))
}

/// Gives every rank the whole batch's outputs `y` (`o` a row, in `h[last]`)
/// and row errors, each rank broadcasting those of the shards it computed;
/// `stage` holds at least a batch of rows × (o + 1) values.
pub(crate) fn share_outputs(
    comm: &dyn Collective,
    shards: &mut [Shard],
    (o, last): (usize, usize),
    stage: &mut [f32],
) -> Result<()> {
    let (ranks, me, used) = (comm.size(), comm.rank(), shards.len());
    for q in 0..ranks {
        let own = &mut shards[owned_shards(used, ranks, q)];
        let rows: usize = own.iter().map(|sh| sh.rows.len()).sum();
        if rows == 0 {
            continue;
        }
        let (ys, losses) = stage[..rows * (o + 1)].split_at_mut(rows * o);
        let mut at = 0;
        for sh in own.iter() {
            let n = sh.rows.len();
            if q == me {
                ys[at * o..(at + n) * o].copy_from_slice(&sh.h[last][..n * o]);
                losses[at..at + n].copy_from_slice(&sh.loss[..n]);
            }
            at += n;
        }
        comm.broadcast(q, &mut stage[..rows * (o + 1)])?;
        if q != me {
            let (ys, losses) = stage[..rows * (o + 1)].split_at(rows * o);
            let mut at = 0;
            for sh in own.iter_mut() {
                let n = sh.rows.len();
                sh.h[last][..n * o].copy_from_slice(&ys[at * o..(at + n) * o]);
                sh.loss[..n].copy_from_slice(&losses[at..at + n]);
                at += n;
            }
        }
    }
    Ok(())
}
