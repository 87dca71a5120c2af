//! The reduction over shards, in one fixed order: the gradients of a batch
//! are sums over its shards, and the global norm a sum over gradient tiles,
//! each added in the same order whatever thread computed the terms, so that
//! a step's bits depend on the shard cut alone (rayon's maintainers' advice
//! on float sums; STYLE.md's "determinism by construction"); across ranks,
//! the same order through a chain ([`dist`](crate::dist)).

use super::backward::{segments, Segment, TILE_ROWS};
use super::shards::Shard;
use crate::dist::{in_rank_order, owned_shards, segment_floats, Chain, Collective, FinishedWork, Pairing};
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
/// tiles were computed in: the squares of each layer's weight tiles folded
/// left to right in f64, then, layer by layer from the first, that layer's
/// sum added to the total, then its bias squares.
pub(crate) struct SquaredNorm {
    /// Each weight tile's squares, layer after layer.
    tiles: Vec<f64>,
    /// Where each layer's tiles start in `tiles`, and where the last ends.
    starts: Vec<usize>,
    /// Each layer's bias squares.
    bias: Vec<f64>,
}

impl SquaredNorm {
    /// Room for the layers of a network of `sizes`, all zero.
    pub(crate) fn new(sizes: &[usize]) -> Result<SquaredNorm> {
        let layers = sizes.len() - 1;
        let mut starts = crate::mem::vec_of(layers + 1, "gradient norms", || Ok(0))?;
        for l in 0..layers {
            starts[l + 1] = starts[l] + sizes[l].div_ceil(TILE_ROWS);
        }
        Ok(SquaredNorm {
            tiles: crate::mem::zeros(starts[layers], "gradient norms")?,
            bias: crate::mem::zeros(layers, "gradient norms")?,
            starts,
        })
    }

    /// Zeroes every layer, for the next step.
    pub(crate) fn clear(&mut self) {
        self.tiles.fill(0.0);
        self.bias.fill(0.0);
    }

    /// The squares of layer `l`'s weight tiles from tile `first` on.
    pub(crate) fn tiles(&mut self, l: usize, first: usize, tiles: impl Iterator<Item = f64>) {
        let layer = &mut self.tiles[self.starts[l]..self.starts[l + 1]];
        layer[first..].iter_mut().zip(tiles).for_each(|(t, sq)| *t = sq);
    }

    /// Layer `l`'s bias squares sum to `bias`.
    pub(crate) fn bias(&mut self, l: usize, bias: f64) {
        self.bias[l] = bias;
    }

    /// `Σ g²` over every layer.
    pub(crate) fn total(&self) -> f64 {
        (0..self.bias.len()).fold(0.0, |total, l| {
            let w = self.tiles[self.starts[l]..self.starts[l + 1]].iter().fold(0.0, |acc, &t| acc + t);
            (total + w) + self.bias[l]
        })
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
    /// On two ranks: which segments the second may start, and each rank's
    /// order ([`ChainParts::pairing`]).
    paired: Option<(Vec<bool>, [Vec<usize>; 2])>,
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
        let paired = if ranks == 2 { Some(pair_segments(&segs, &ranges)?) } else { None };
        Ok(ChainParts { segments: segs, ranges, paired })
    }

    /// The [`Pairing`] of a step on two ranks where each computes one shard
    /// whose weight gradient the GEMM adds to a tile in one addition
    /// (`one_addition`): each tile's sum is then `g₀ + g₁`, the same
    /// bits whichever rank writes first. A layer's last segment carries its
    /// bias, a running sum over the rows in batch order, so rank 0 always
    /// starts it.
    pub(crate) fn pairing(&self, one_addition: bool) -> Option<Pairing<'_>> {
        let (swapped, [a, b]) = self.paired.as_ref().filter(|_| one_addition)?;
        Some(Pairing { swapped, order: [a, b] })
    }
}

/// Splits each layer's segments (in `segs`' order, a layer's bias segment
/// last) between two ranks by values: rank 0 starts the first ones and the
/// bias segment, rank 1 the rest (swapped), about half each. Rank 0 works
/// on its own, then on rank 1's; rank 1 on its own, then on rank 0's; a
/// layer at a time, as the deltas come.
fn pair_segments(segs: &[Segment], ranges: &[Range<usize>]) -> Result<(Vec<bool>, [Vec<usize>; 2])> {
    let n = segs.len();
    let mut swapped = crate::mem::vec_of(n, "chain segments", || Ok(false))?;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    crate::mem::reserve(&mut first, n, "chain segments")?;
    crate::mem::reserve(&mut second, n, "chain segments")?;
    let mut at = 0;
    while at < n {
        let end = (at..n).find(|&i| segs[i].bias).map_or(n, |i| i + 1);
        let len = |i: usize| ranges[i].len();
        let whole: usize = (at..end).map(len).sum();
        // Rank 0 starts the layer's bias segment and the plain ones before
        // `split`, rank 1 those from `split` on.
        let (mut split, mut mine) = (at, len(end - 1));
        while split + 1 < end && 2 * (mine + len(split)) <= whole + len(split) {
            mine += len(split);
            split += 1;
        }
        swapped[split..end - 1].fill(true);
        let (own, theirs) = ((at..split).chain([end - 1]), split..end - 1);
        first.extend(own.clone().chain(theirs.clone()));
        second.extend(theirs.chain(own));
        at = end;
    }
    Ok((swapped, [first, second]))
}

/// What a rank does with a segment of the gradient in [`chain_gradients`]:
/// called with `None` before the segment is received, then with it and
/// whether to add onto what it holds ([`ChainWork`](crate::dist::ChainWork)).
pub(crate) type SegmentWork<'a> = dyn FnMut(&Segment, Option<(&mut [f32], bool)>) -> Result<()> + 'a;

/// The sum of a distributed step, the same bits as one process's
/// ([`Collective::chain`]): each rank that owns shards takes every segment
/// of the gradient as the rank before it in the chain left it (the sums of
/// all earlier shards), and `work(seg, Some((values, true)))` adds its own
/// shards' terms onto it in shard order, exactly as one process would;
/// then the segment goes on. `work(seg, None)` comes first, before the
/// segment is there: what can be computed without it (the deltas of its
/// layer). The finished segments reach the other ranks as the last rank
/// makes them (no broadcast of the whole gradient at the end). Rank `r+1`
/// works on segment `c` while rank `r` computes segment `c+1`. MPI calls
/// stay on the calling thread. With `then`, each finished part goes to it
/// instead of into `grads` ([`Collective::chain_then`]), and the chain may
/// follow `pairing`. Adds the seconds spent between ranks (waiting
/// included, `work` and `then` excluded) to `waited`.
pub(crate) fn chain_gradients(
    comm: &dyn Collective,
    (chain, pairing): (Chain, Option<Pairing<'_>>),
    parts: &ChainParts,
    grads: &mut [f32],
    then: Option<&mut FinishedWork<'_>>,
    waited: &mut f64,
    work: &mut SegmentWork<'_>,
) -> Result<()> {
    let t0 = Instant::now();
    let worked = std::cell::Cell::new(0.0);
    let timed = |t: Instant| worked.set(worked.get() + t.elapsed().as_secs_f64());
    let mut work = |i: usize, g: Option<(&mut [f32], bool)>| {
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
            comm.chain_then(chain, (grads, &parts.ranges), pairing, &mut work, &mut then)?
        }
        None => comm.chain(chain, grads, &parts.ranges, &mut in_rank_order(chain, &mut work))?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_splits_each_layer_and_keeps_the_bias_in_rank_order() {
        let sizes = [784, 1024, 1024, 10];
        let params = crate::model::layer_ranges(&sizes, sizes.len() - 2).1.end;
        let parts = ChainParts::new(&sizes, params, 2).unwrap();
        let p = parts.pairing(true).unwrap();
        assert!(parts.pairing(false).is_none());
        let n = parts.segments.len();
        for order in p.order {
            let mut seen = order.to_vec();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "each part once");
            // A layer at a time, from the last: the deltas come in that order.
            let layers: Vec<usize> = order.iter().map(|&i| parts.segments[i].layer).collect();
            assert!(layers.windows(2).all(|w| w[0] >= w[1]), "{layers:?}");
        }
        for l in 0..sizes.len() - 1 {
            let of = |swapped: bool| -> usize {
                (0..n)
                    .filter(|&i| parts.segments[i].layer == l && p.swapped[i] == swapped)
                    .map(|i| parts.ranges[i].len())
                    .sum()
            };
            let (first, second) = (of(false), of(true));
            let largest =
                (0..n).filter(|&i| parts.segments[i].layer == l).map(|i| parts.ranges[i].len()).max().unwrap();
            assert!(first.abs_diff(second) <= largest, "layer {l}: {first} against {second}");
        }
        assert!((0..n).all(|i| !(parts.segments[i].bias && p.swapped[i])), "a bias segment swapped");
        assert!(ChainParts::new(&sizes, params, 3).unwrap().pairing(true).is_none());
    }

    #[test]
    fn the_norm_does_not_depend_on_the_order_its_tiles_come_in() {
        let sizes: [usize; 3] = [300, 200, 10];
        let tiles: Vec<usize> = sizes[..2].iter().map(|s| s.div_ceil(TILE_ROWS)).collect();
        // Sums that change with their order: a large first tile (its
        // fold from the last tile is 1e16 + 2 or + 4, from the first 1e16).
        let value = |_: usize, t: usize| if t == 0 { 1e16 } else { 1.0 };
        let mut forward = SquaredNorm::new(&sizes).unwrap();
        let mut backward = SquaredNorm::new(&sizes).unwrap();
        for (l, &n) in tiles.iter().enumerate() {
            forward.tiles(l, 0, (0..n).map(|t| value(l, t)));
            forward.bias(l, 0.5 * l as f64);
        }
        for (l, &n) in tiles.iter().enumerate().rev() {
            for t in (0..n).rev() {
                backward.tiles(l, t, std::iter::once(value(l, t)));
            }
            backward.bias(l, 0.5 * l as f64);
        }
        let fold = tiles.iter().enumerate().fold(0.0, |total: f64, (l, &n)| {
            let w = (0..n).fold(0.0, |acc, t| acc + value(l, t));
            (total + w) + 0.5 * l as f64
        });
        assert_eq!(forward.total().to_bits(), fold.to_bits());
        assert_eq!(backward.total().to_bits(), fold.to_bits());
    }
}
