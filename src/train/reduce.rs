//! How a step's gradient comes together: in one process ([`Local`]), or
//! along a chain of ranks ([`Chain`]): two implementations of [`Reduce`],
//! one picked when the trainer is made and the other when it is
//! [distributed](super::Trainer::distribute).
//!
//! Either way each value of the gradient is one chain over the batch's
//! rows in order ([`gradient`](super::gradient)): across ranks, each rank
//! holds a contiguous run of the rows, in rank order, and continues the
//! sums the rank before it left, segment by segment, so the bits are one
//! process's for any number of ranks.

use super::gradient::{segments, SegmentSum, SquaredNorm};
use super::shard::Shard;
use crate::dist::Collective;
use crate::error::Result;
use crate::kernels::Kernels;
use crate::mem::{reserve, zeros};
use std::ops::Range;
use std::time::Instant;

/// What adds this process's terms to a segment of the sum, noting its
/// squares in the norm when given one.
pub(crate) type AddTerms<'a> = dyn FnMut(SegmentSum<'_>, Option<&mut SquaredNorm>) -> Result<()> + 'a;

/// The gradient's segments and where each lies in it.
struct Parts {
    segments: Vec<super::gradient::Segment>,
    ranges: Vec<Range<usize>>,
}

impl Parts {
    /// The segments of a network of `sizes`, each at most `max_floats`
    /// weights.
    fn new(sizes: &[usize], max_floats: usize) -> Result<Parts> {
        let n = segments(sizes, max_floats).count();
        let (mut segs, mut ranges) = (Vec::new(), Vec::new());
        reserve(&mut segs, n, "gradient segments")?;
        reserve(&mut ranges, n, "gradient segments")?;
        for seg in segments(sizes, max_floats) {
            ranges.push(seg.range(sizes));
            segs.push(seg);
        }
        Ok(Parts { segments: segs, ranges })
    }
}

/// How a step's gradient comes together from the batch's rows.
pub(crate) trait Reduce: Send {
    /// The rows of a batch of `rows` this process computes.
    fn own_rows(&self, rows: usize) -> Range<usize>;

    /// Writes the gradient of a batch of `rows` into `grads` (laid out like
    /// the parameters) and returns `Σ g²`: `add` adds this process's terms
    /// to each segment.
    fn gradient(&mut self, rows: usize, grads: &mut [f32], add: &mut AddTerms<'_>) -> Result<f64>;

    /// Gives this process the outputs `y` (`outputs` a row) and row errors
    /// of every row of a batch of `rows`, of which `shards` hold this
    /// process's.
    fn share_outputs(&mut self, shards: &[Shard], rows: usize, outputs: usize) -> Result<()>;

    /// The outputs and row errors [`share_outputs`](Self::share_outputs)
    /// gathered (`rows × outputs`, then `rows`), or `None` when the shards
    /// hold every row.
    fn shared_outputs(&self, rows: usize, outputs: usize) -> Option<(&[f32], &[f32])>;

    /// The ranks, when there are other processes.
    fn collective(&self) -> Option<&dyn Collective>;

    /// Seconds spent in messages between ranks (waiting included).
    fn seconds(&self) -> f64;

    /// Tells the other ranks that this one failed with `why` mid-step, so
    /// that their waits on it end with an error naming it.
    fn abort(&self, why: &str);
}

/// One process: every row, every segment summed here.
pub(crate) struct Local {
    parts: Parts,
    norm: SquaredNorm,
}

impl Local {
    /// The sum for a network of `sizes`: a segment a layer.
    pub(crate) fn new(sizes: &[usize]) -> Result<Local> {
        Ok(Local { parts: Parts::new(sizes, usize::MAX)?, norm: SquaredNorm::new(sizes)? })
    }
}

impl Reduce for Local {
    fn own_rows(&self, rows: usize) -> Range<usize> {
        0..rows
    }

    fn gradient(&mut self, _: usize, grads: &mut [f32], add: &mut AddTerms<'_>) -> Result<f64> {
        self.norm.clear();
        for (seg, r) in self.parts.segments.iter().zip(&self.parts.ranges) {
            add(SegmentSum { g: &mut grads[r.clone()], seg, onto: false }, Some(&mut self.norm))?;
        }
        Ok(self.norm.total())
    }

    fn share_outputs(&mut self, _: &[Shard], _: usize, _: usize) -> Result<()> {
        Ok(())
    }

    fn shared_outputs(&self, _: usize, _: usize) -> Option<(&[f32], &[f32])> {
        None
    }

    fn collective(&self) -> Option<&dyn Collective> {
        None
    }

    fn seconds(&self) -> f64 {
        0.0
    }

    fn abort(&self, _: &str) {}
}

/// The rows `[q·B/P, (q+1)·B/P)` of a batch of `rows` that rank `q` of
/// `ranks` computes, each start but the first rounded down to a multiple of
/// `align` (2 in bf16, whose chains over the rows are cut between pairs):
/// contiguous, in rank order, sizes differing by at most `align` (empty
/// for some ranks when `rows < ranks·align`).
pub(crate) fn rank_rows(rows: usize, ranks: usize, q: usize, align: usize) -> Range<usize> {
    let start = |q: usize| if q >= ranks { rows } else { q * rows / ranks / align * align };
    start(q)..start(q + 1)
}

/// Where a rank stands in the chain of one step: the ranks that hold rows,
/// in rank order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    /// The rank before this one that holds rows: the partial sums come
    /// from it.
    prev: Option<usize>,
    /// The rank after this one that holds rows: the partial sums go to it.
    next: Option<usize>,
    /// The last rank that holds rows: it finishes the sums.
    last: usize,
    /// Whether this rank holds rows.
    member: bool,
}

impl Link {
    /// The chain of a batch of `rows` on `ranks` ranks cut at multiples of
    /// `align`, as `rank` sees it.
    fn of(rows: usize, ranks: usize, rank: usize, align: usize) -> Link {
        let holds = |q: usize| !rank_rows(rows, ranks, q, align).is_empty();
        Link {
            prev: (0..rank).rev().find(|&q| holds(q)),
            next: (rank + 1..ranks).find(|&q| holds(q)),
            last: (0..ranks).rev().find(|&q| holds(q)).unwrap_or(0),
            member: holds(rank),
        }
    }
}

/// Ranks of a data-parallel run: each sums its rows onto what the rank
/// before it sent, segment by segment, and sends the segment on; the last
/// rank's finished gradient then goes to every rank.
pub(crate) struct Chain {
    comm: Box<dyn Collective>,
    parts: Parts,
    norm: SquaredNorm,
    sizes: Vec<usize>,
    /// Outputs and row errors on their way between ranks.
    stage: Vec<f32>,
    seconds: f64,
    /// Ranks' rows start at multiples of this ([`rank_rows`]).
    align: usize,
}

impl Chain {
    /// The chain over `comm` for a network of `sizes` and batches of up to
    /// `batch` rows of `outputs` outputs, ranks' rows cut at multiples of
    /// `align`.
    pub(crate) fn new(
        comm: Box<dyn Collective>,
        sizes: &[usize],
        batch: usize,
        outputs: usize,
        align: usize,
    ) -> Result<Chain> {
        let params = crate::layout::count_params(sizes).unwrap_or(0);
        Ok(Chain {
            parts: Parts::new(sizes, segment_floats(params, comm.size()))?,
            norm: SquaredNorm::new(sizes)?,
            sizes: sizes.to_vec(),
            stage: zeros(crate::mem::product(batch, outputs + 1, "outputs between ranks")?, "outputs between ranks")?,
            seconds: 0.0,
            align,
            comm,
        })
    }

    /// The chain of sums: this rank's terms of each segment added onto the
    /// rank before it's, and sent on to the next.
    fn sums(&mut self, grads: &mut [f32], link: Link, add: &mut AddTerms<'_>) -> Result<()> {
        let mut waited = 0.0;
        for (seg, r) in self.parts.segments.iter().zip(&self.parts.ranges) {
            let g = &mut grads[r.clone()];
            let t = Instant::now();
            if let Some(p) = link.prev {
                self.comm.receive(p, g)?;
            }
            waited += t.elapsed().as_secs_f64();
            add(SegmentSum { g: &mut *g, seg, onto: link.prev.is_some() }, None)?;
            let t = Instant::now();
            if let Some(n) = link.next {
                self.comm.send(n, g)?;
            }
            waited += t.elapsed().as_secs_f64();
        }
        self.seconds += waited;
        Ok(())
    }
}

impl Reduce for Chain {
    fn own_rows(&self, rows: usize) -> Range<usize> {
        rank_rows(rows, self.comm.size(), self.comm.rank(), self.align)
    }

    fn gradient(&mut self, rows: usize, grads: &mut [f32], add: &mut AddTerms<'_>) -> Result<f64> {
        let link = Link::of(rows, self.comm.size(), self.comm.rank(), self.align);
        if link.member {
            self.sums(grads, link, add)?;
        }
        let t = Instant::now();
        self.comm.broadcast(link.last, grads)?;
        self.seconds += t.elapsed().as_secs_f64();
        // Every rank notes the finished gradient's squares, in one order.
        let k = Kernels::active();
        self.norm.clear();
        for (seg, r) in self.parts.segments.iter().zip(&self.parts.ranges) {
            self.norm.note_segment(&grads[r.clone()], seg, &self.sizes, &k);
        }
        Ok(self.norm.total())
    }

    /// Each rank broadcasts the outputs and errors of its own rows, which
    /// its shards hold in order, into every rank's `stage`.
    fn share_outputs(&mut self, shards: &[Shard], rows: usize, o: usize) -> Result<()> {
        let t = Instant::now();
        let (ys, losses) = self.stage[..rows * (o + 1)].split_at_mut(rows * o);
        for sh in shards {
            let (r, n) = (sh.rows.start, sh.rows.len());
            ys[r * o..(r + n) * o].copy_from_slice(&sh.h[sh.h.len() - 1][..n * o]);
            losses[r..r + n].copy_from_slice(&sh.loss[..n]);
        }
        let ranks = self.comm.size();
        for q in 0..ranks {
            let r = rank_rows(rows, ranks, q, self.align);
            if !r.is_empty() {
                self.comm.broadcast(q, &mut ys[r.start * o..r.end * o])?;
                self.comm.broadcast(q, &mut losses[r])?;
            }
        }
        self.seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    fn shared_outputs(&self, rows: usize, outputs: usize) -> Option<(&[f32], &[f32])> {
        Some(self.stage[..rows * (outputs + 1)].split_at(rows * outputs))
    }

    fn collective(&self) -> Option<&dyn Collective> {
        Some(&*self.comm)
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }

    fn abort(&self, why: &str) {
        self.comm.abort(why);
    }
}

/// Values of the gradient one message carries at most, for a gradient of
/// `n` values on `ranks` ranks: `n / ranks`, and never more than 1 MiB of
/// f32. Large enough that a message's latency is small beside its
/// transfer; small enough that a layer is several messages, which the
/// ranks work on at once. (Segments only group the gradient's tiles into
/// messages: the sums, and so the bits, are the same for any size.)
fn segment_floats(n: usize, ranks: usize) -> usize {
    (n / ranks.max(1)).clamp(1, 1 << 18)
}
