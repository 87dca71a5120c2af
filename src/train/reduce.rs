//! The reduction over shards, in one fixed order: the gradients of a batch
//! are sums over its shards, and the global norm a sum over gradient tiles,
//! each added in the same order whatever thread computed the terms, so that
//! a step's bits depend on the shard cut alone (rayon's maintainers' advice
//! on float sums; STYLE.md's "determinism by construction"); across ranks,
//! the same order through a chain ([`dist`](crate::dist)).

use super::backward::{segments, Segment};
use super::shards::Shard;
use crate::dist::{owned_shards, segment_floats, Chain, Collective, FinishedWork};
use crate::error::Result;
use std::ops::Range;
use std::time::Instant;

/// `Σ_s term(s)` in shard order: calls `term(shard, accumulate)` for each
/// shard in turn, `accumulate` false for the first (which writes the sum)
/// and true after (which add to it).
pub(crate) fn in_shard_order<S>(shards: &[S], mut term: impl FnMut(&S, bool) -> Result<()>) -> Result<()> {
    shards.iter().enumerate().try_for_each(|(s, sh)| term(sh, s > 0))
}

/// The squared global norm `Σ g²`, in one fixed order whatever order the
/// layers were computed in: the squares of each layer's weight tiles folded
/// left to right in f64, then, layer by layer from the first, that layer's
/// sum added to the total, then its bias squares.
pub(crate) struct SquaredNorm {
    /// Per layer: the weight tiles' fold so far, and the bias squares.
    layers: Vec<[f64; 2]>,
}

impl SquaredNorm {
    /// Room for `layers` layers, all zero.
    pub(crate) fn new(layers: usize) -> Result<SquaredNorm> {
        Ok(SquaredNorm { layers: crate::mem::vec_of(layers, "gradient norms", || Ok([0.0; 2]))? })
    }

    /// Zeroes every layer, for the next step.
    pub(crate) fn clear(&mut self) {
        self.layers.fill([0.0; 2]);
    }

    /// Folds in the next tiles of layer `l`.
    pub(crate) fn tiles(&mut self, l: usize, tiles: impl Iterator<Item = f64>) {
        self.layers[l][0] = tiles.fold(self.layers[l][0], |acc, t| acc + t);
    }

    /// Layer `l`'s bias squares sum to `bias`.
    pub(crate) fn bias(&mut self, l: usize, bias: f64) {
        self.layers[l][1] = bias;
    }

    /// `Σ g²` over every layer.
    pub(crate) fn total(&self) -> f64 {
        self.layers.iter().fold(0.0, |total, &[w, b]| (total + w) + b)
    }
}

/// The row errors of the shards summed in batch order, in f64.
pub(crate) fn loss_sum(shards: &[Shard]) -> f64 {
    shards.iter().flat_map(|sh| &sh.loss[..sh.rows.len()]).fold(0.0, |acc, &v| acc + v as f64)
}

/// The segments of the gradient a chain message carries, and where each
/// lies in it: fixed for a network, made once per trainer. Last layer
/// first, as backward makes them: a layer's weight gradients go out while
/// the deltas of the layer below are computed.
pub(crate) struct ChainParts {
    pub segments: Vec<Segment>,
    pub ranges: Vec<Range<usize>>,
}

impl ChainParts {
    /// The parts of a gradient of `params` values (a network of `sizes`)
    /// for `ranks` ranks.
    pub(crate) fn new(sizes: &[usize], params: usize, ranks: usize) -> Result<ChainParts> {
        let max = segment_floats(params, ranks);
        let n = segments(sizes, max).count();
        let (mut segs, mut ranges) = (Vec::new(), Vec::new());
        crate::mem::reserve(&mut segs, n, "chain segments")?;
        crate::mem::reserve(&mut ranges, n, "chain segments")?;
        for l in (0..sizes.len() - 1).rev() {
            for seg in segments(sizes, max).filter(|s| s.layer == l) {
                ranges.push(seg.range(sizes));
                segs.push(seg);
            }
        }
        Ok(ChainParts { segments: segs, ranges })
    }
}

/// What a rank does with a segment of the gradient in [`chain_gradients`]:
/// called with `None` before the segment is received, then with it.
pub(crate) type SegmentWork<'a> = dyn FnMut(&Segment, Option<&mut [f32]>) -> Result<()> + 'a;

/// The sum of a distributed step, the same bits as one process's
/// ([`Collective::chain`]): each rank that owns shards takes every segment
/// of the gradient as the rank before it in the chain left it (the sums of
/// all earlier shards), and `work(seg, Some(values))` adds its own shards'
/// terms onto it in shard order, exactly as one process would; then the
/// segment goes on. `work(seg, None)` comes first, before the segment is
/// there: what can be computed without it (the deltas of its layer). The
/// finished segments reach the other ranks as the last rank makes them (no
/// broadcast of the whole gradient at the end). Rank `r+1` works on
/// segment `c` while rank `r` computes segment `c+1`. MPI calls stay on
/// the calling thread. With `then`, each finished part goes to it instead
/// of into `grads` ([`Collective::chain_then`]). Adds the seconds spent
/// between ranks (waiting included, `work` and `then` excluded) to
/// `waited`.
pub(crate) fn chain_gradients(
    comm: &dyn Collective,
    chain: Chain,
    parts: &ChainParts,
    grads: &mut [f32],
    then: Option<&mut FinishedWork<'_>>,
    waited: &mut f64,
    work: &mut SegmentWork<'_>,
) -> Result<()> {
    let t0 = Instant::now();
    let worked = std::cell::Cell::new(0.0);
    let timed = |t: Instant| worked.set(worked.get() + t.elapsed().as_secs_f64());
    let mut work = |i: usize, g: Option<&mut [f32]>| {
        let t = Instant::now();
        let r = work(&parts.segments[i], g);
        timed(t);
        r
    };
    match then {
        Some(then) => {
            let mut then = |i: usize, g: &[f32]| {
                let t = Instant::now();
                let r = then(i, g);
                timed(t);
                r
            };
            comm.chain_then(chain, grads, &parts.ranges, &mut work, &mut then)?
        }
        None => comm.chain(chain, grads, &parts.ranges, &mut work)?,
    }
    *waited += t0.elapsed().as_secs_f64() - worked.get();
    Ok(())
}

/// The squared norm `sq` of the last rank of the chain, which alone has
/// the finished gradient's, on every rank.
pub(crate) fn shared_norm(comm: &dyn Collective, chain: Chain, sq: f64) -> Result<f64> {
    let mut bytes = sq.to_le_bytes();
    comm.broadcast_bytes(chain.last, &mut bytes)?;
    Ok(f64::from_le_bytes(bytes))
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
