//! Data-parallel training across processes: the [`Collective`] a
//! [`Trainer`](crate::Trainer) is handed, and which shards of a batch each
//! rank computes.
//!
//! Every rank holds the whole batch (each reads the data and derives the row
//! order from the seed), computes forward and backward for its own shards
//! only, and the gradient is then summed over the shards **in the same order
//! as in one process**, so that the weights after any number of steps are
//! bit-identical for any number of ranks (and threads per rank):
//!
//! ```text
//! shards 0..S of a batch → ranks by contiguous ranges: rank r owns [r·S/P, (r+1)·S/P)
//! gradient = ((g₀ + g₁) + g₂) + …       one process: each tile's shards added in order
//! distributed: rank 0 adds its shards into a segment of the gradient, sends it to
//!   rank 1, which adds its shards onto it, … ; the last rank sends each finished
//!   segment back round the ring, last → 0 → 1 → … (plain copies)
//! ```
//!
//! The chain runs segment by segment ([`segment_floats`] values at most),
//! so rank `r+1` adds its shards into segment `c` while rank `r` computes
//! segment `c+1`: the ranks work at the same time but for one segment.
//! On two ranks of one shard each, a tile's sum is one addition, `g₀ + g₁`,
//! which commutes: there each rank may start half the tiles and finish the
//! other half ([`Pairing`]), so that neither does all the additions after
//! the other.
//! A reduction MPI chooses for itself (`MPI_Allreduce`) would not do: the
//! standard leaves the bracketing of its sums to the implementation, so the
//! bits could change with the number of ranks (open-mpi/ompi#12258).
//!
//! Implementations: [`Local`] (ranks as threads of one process) and, with
//! the `mpi` feature, `mpi::MpiComm` over MPI's point-to-point messages.

mod local;
#[cfg(feature = "mpi")]
pub mod mpi;

pub use local::Local;

use crate::error::{Error, Result};
use std::ops::Range;

/// What a rank does with part `i` of a [`Collective::relay`]: called with
/// `None` before the part is received, then with the part.
pub type RelayWork<'a> = dyn FnMut(usize, Option<&mut [f32]>) -> Result<()> + 'a;

/// What a rank does with part `i` of a [`Collective::chain_then`]: called
/// with `None` before the part is there, then with `Some((sums, onto))`:
/// its terms added onto the sums the part holds (`onto`), or written over
/// it (the part's first rank).
pub type ChainWork<'a> = dyn FnMut(usize, Option<(&mut [f32], bool)>) -> Result<()> + 'a;

/// What a rank does with part `i` of the finished sum of a
/// [`Collective::chain_then`].
pub type FinishedWork<'a> = dyn FnMut(usize, &[f32]) -> Result<()> + 'a;

/// Parts of a chain of two ranks that either may start: those whose sum is
/// two terms, each added once, `a + b`, which is `b + a` to the bit (IEEE
/// 754 addition commutes). The second rank writes a `swapped` part first
/// and the first adds onto it, so that each rank starts half the parts and
/// finishes the other half, instead of the second doing every addition
/// after the first.
#[derive(Clone, Copy, Debug)]
pub struct Pairing<'a> {
    /// Per part: the second rank starts it.
    pub swapped: &'a [bool],
    /// `order[q]`: the order rank `q` of the two works on the parts in
    /// (each part once).
    pub order: [&'a [usize]; 2],
}

/// The processes of one data-parallel run, as the trainer uses them: plain
/// copies of values between ranks, never arithmetic on them. Every rank
/// must make the same calls in the same order (as MPI requires).
pub trait Collective: Send {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Sends `data` to rank `to`; `data` may be reused when it returns.
    fn send(&self, to: usize, data: &[f32]) -> Result<()>;
    /// Receives into `data` what rank `from` sent (of the same length).
    fn receive(&self, from: usize, data: &mut [f32]) -> Result<()>;
    /// Copies `data` of rank `root` into `data` of every other rank.
    fn broadcast(&self, root: usize, data: &mut [f32]) -> Result<()>;
    /// Copies `bytes` of rank `root` into `bytes` of every other rank (all
    /// of the same length).
    fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> Result<()>;

    /// Collective (every rank, with the same `floats`): lets an
    /// implementation prepare for relays of up to `floats` values (MPI:
    /// memory shared by the ranks of one machine). The default does
    /// nothing.
    fn reserve(&self, floats: usize) -> Result<()> {
        let _ = floats;
        Ok(())
    }

    /// One rank's link of a chain over the parts of `data` (disjoint
    /// ranges, taken in the order given): for each part `i`, `work(i,
    /// None)` (what can be done before the part arrives), receive it from
    /// `prev` (when there is one), `work(i, Some(part))`, then send it to
    /// `next` (when there is one). The default does exactly that with
    /// blocking calls; an implementation may let the sends run on while the
    /// next parts are worked on (MPI does), as long as each part is sent
    /// once its work is done and received before its work starts.
    fn relay(
        &self,
        prev: Option<usize>,
        next: Option<usize>,
        data: &mut [f32],
        parts: &[Range<usize>],
        work: &mut RelayWork<'_>,
    ) -> Result<()> {
        let parts = split_parts(self.rank(), data, parts)?;
        relay_parts(
            parts,
            work,
            |_, part| prev.map_or(Ok(()), |p| self.receive(p, part)),
            |_, part| next.map_or(Ok(()), |n| self.send(n, part)),
        )
    }

    /// One step's ordered sum over the ranks that own shards, then its
    /// result on every rank: the `work` of [`relay`](Self::relay) along
    /// `chain.prev → this rank → chain.next` when this rank is a member,
    /// then (every rank but `chain.last`) the finished parts copied in.
    /// On return `data` holds the finished sum. The default is two relays
    /// (the way back, `last → 0 → 1 → …`, plain copies); an implementation
    /// whose ranks share memory may do the sums in place there instead (MPI
    /// on one machine does), as long as each part's terms are added in rank
    /// order.
    fn chain(&self, chain: Chain, data: &mut [f32], parts: &[Range<usize>], work: &mut RelayWork<'_>) -> Result<()> {
        chain_by_relays(self, chain, data, parts, work)
    }

    /// [`chain`](Self::chain), then on every rank `then(i, part)` for each
    /// part `i` of the finished sum, once, as soon as the rank has it (in
    /// no set order); `data` need not hold the sum afterwards. `work` is
    /// told whether it adds onto the part or starts it. The default is
    /// `chain` in rank order (ignoring `pairing`), then `then` over the
    /// parts of `data` in part order; an implementation whose ranks share
    /// memory hands out each part where its sum was made, copying nothing,
    /// and may follow `pairing` (MPI on one machine does both).
    fn chain_then(
        &self,
        chain: Chain,
        (data, parts): (&mut [f32], &[Range<usize>]),
        pairing: Option<Pairing<'_>>,
        work: &mut ChainWork<'_>,
        then: &mut FinishedWork<'_>,
    ) -> Result<()> {
        let _ = pairing;
        self.chain(chain, data, parts, &mut in_rank_order(chain, work))?;
        finish_parts(self.rank(), data, parts, then)
    }
}

/// `work` as a [`RelayWork`], for a chain in rank order: this rank adds
/// onto every part when a rank before it owns shards, and starts every part
/// when none does.
pub(crate) fn in_rank_order<'a, 'w>(
    chain: Chain,
    work: &'a mut ChainWork<'w>,
) -> impl FnMut(usize, Option<&mut [f32]>) -> Result<()> + use<'a, 'w> {
    let onto = chain.prev.is_some();
    move |i, g| work(i, g.map(|g| (g, onto)))
}

/// `then(i, part)` for each of `parts` of `data` in turn; an error, seen by
/// `rank`, naming a part outside `data`.
pub(crate) fn finish_parts(
    rank: usize,
    data: &[f32],
    parts: &[Range<usize>],
    then: &mut FinishedWork<'_>,
) -> Result<()> {
    parts.iter().enumerate().try_for_each(|(i, r)| match data.get(r.clone()) {
        Some(part) => then(i, part),
        None => Err(Error::collective(rank, format!("chain part {r:?} lies outside {} values", data.len()))),
    })
}

/// [`Collective::chain`] as two relays: the sums along the chain, then the
/// finished parts the way back (`last → 0 → 1 → …`).
pub(crate) fn chain_by_relays<C: Collective + ?Sized>(
    comm: &C,
    chain: Chain,
    data: &mut [f32],
    parts: &[Range<usize>],
    work: &mut RelayWork<'_>,
) -> Result<()> {
    if chain.member {
        comm.relay(chain.prev, chain.next, data, parts, work)?;
    }
    if chain.last != comm.rank() {
        comm.relay(chain.back_prev, chain.back_next, data, parts, &mut |_, _| Ok(()))?;
    }
    Ok(())
}

/// `data` cut into a relay's `parts` (disjoint ranges, in any order), each
/// part's slice at its index; an error, seen by `rank`, naming a part that
/// overlaps another or lies outside `data`.
pub(crate) fn split_parts<'a>(rank: usize, data: &'a mut [f32], parts: &[Range<usize>]) -> Result<Vec<&'a mut [f32]>> {
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| parts[i].start);
    let mut slices: Vec<Option<&mut [f32]>> = (0..parts.len()).map(|_| None).collect();
    let (len, mut rest, mut at) = (data.len(), data, 0);
    for &i in &order {
        let r = &parts[i];
        if r.start < at || r.end < r.start || r.end > len {
            return Err(Error::collective(rank, format!("relay part {r:?} overlaps, or lies outside {len} values")));
        }
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.end - at);
        slices[i] = Some(&mut head[r.start - at..]);
        (rest, at) = (tail, r.end);
    }
    Ok(slices.into_iter().map(|s| s.expect("every part split off once")).collect())
}

/// The loop of every [`Collective::relay`], whatever moves the parts: for
/// each part `i` in turn, `work(i, None)`, `receive(i, part)`, `work(i,
/// Some(part))`, `send(i, part)`. `send` holds the part for all of `'a`,
/// so that a send may run on while the next parts are worked on.
pub(crate) fn relay_parts<'a>(
    parts: Vec<&'a mut [f32]>,
    work: &mut RelayWork<'_>,
    mut receive: impl FnMut(usize, &mut [f32]) -> Result<()>,
    mut send: impl FnMut(usize, &'a [f32]) -> Result<()>,
) -> Result<()> {
    for (i, part) in parts.into_iter().enumerate() {
        work(i, None)?;
        receive(i, part)?;
        work(i, Some(&mut *part))?;
        send(i, part)?;
    }
    Ok(())
}

/// Values of the gradient one chain message carries at most, for a
/// gradient of `n` values on `ranks` ranks: `n / ranks`, and never more than
/// 1 MiB of f32. Large enough that a message's latency is small beside its
/// transfer; small enough that a layer is several messages, which the ranks
/// work on at once, and that the pipeline's tail (`ranks − 1` messages, on
/// the way there and back) stays short beside the whole gradient's
/// transfer. (Segments only group the gradient's tiles into messages: the
/// sums, and so the bits, are the same for any segment size.)
pub fn segment_floats(n: usize, ranks: usize) -> usize {
    (n / ranks.max(1)).clamp(1, 1 << 18)
}

/// The shards `[r·S/P, (r+1)·S/P)` of `used` shards that rank `rank` of
/// `ranks` computes: contiguous, in rank order, sizes differing by at most
/// one (empty for some ranks when `used < ranks`, as in a short last batch).
pub fn owned_shards(used: usize, ranks: usize, rank: usize) -> Range<usize> {
    (rank * used / ranks)..((rank + 1) * used / ranks)
}

/// Where a rank stands in the chain of one step ([`Collective::chain`]):
/// the ranks that own shards, in rank order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The rank before this one that owns shards, when there is one: the
    /// partial sums come from it.
    pub prev: Option<usize>,
    /// The next rank that owns shards: the partial sums go to it. For the
    /// last such rank, the first rank of the way back: the finished sums go
    /// to it, segment by segment, as they are made.
    pub next: Option<usize>,
    /// The last rank that owns shards: it finishes the sums.
    pub last: usize,
    /// Whether this rank owns shards.
    pub member: bool,
    /// The way back, every rank but `last` in rank order: the finished sums
    /// come from `back_prev` (`last` for the first) and go on to
    /// `back_next`. Both `None` for `last`.
    pub back_prev: Option<usize>,
    /// Where the finished sums go on to on the way back (see `back_prev`).
    pub back_next: Option<usize>,
}

impl Chain {
    /// The chain of a step with `used` shards on `ranks` ranks, as `rank`
    /// sees it.
    pub fn of(used: usize, ranks: usize, rank: usize) -> Chain {
        let owns = |q: usize| !owned_shards(used, ranks, q).is_empty();
        let last = (0..ranks).rev().find(|&q| owns(q)).unwrap_or(0);
        let back = |from: usize| (from..ranks).find(|&q| q != last);
        let (back_prev, back_next) = match rank {
            r if r == last => (None, None),
            r => (Some((0..r).rev().find(|&q| q != last).unwrap_or(last)), back(r + 1)),
        };
        Chain {
            prev: (0..rank).rev().find(|&q| owns(q)),
            next: if rank == last { back(0) } else { (rank + 1..ranks).find(|&q| owns(q)) },
            last,
            member: owns(rank),
            back_prev,
            back_next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order_once() {
        for used in 1..20 {
            for ranks in 1..8 {
                let all: Vec<usize> = (0..ranks).flat_map(|r| owned_shards(used, ranks, r)).collect();
                assert_eq!(all, (0..used).collect::<Vec<_>>(), "used {used}, ranks {ranks}");
            }
        }
    }

    #[test]
    fn the_chain_links_the_ranks_that_own_shards() {
        // 2 shards on 4 ranks: ranks 1 and 3 own one each.
        let c: Vec<Chain> = (0..4).map(|r| Chain::of(2, 4, r)).collect();
        assert_eq!(owned_shards(2, 4, 1), 0..1);
        assert_eq!(owned_shards(2, 4, 3), 1..2);
        // Sums: 1 → 3; finished sums: 3 → 0 → 1 → 2.
        let link =
            |prev, next, member, back_prev, back_next| Chain { prev, next, last: 3, member, back_prev, back_next };
        assert_eq!(c[1], link(None, Some(3), true, Some(0), Some(2)));
        assert_eq!(c[3], link(Some(1), Some(0), true, None, None));
        assert_eq!(c[0], link(None, Some(1), false, Some(3), Some(1)));
        assert_eq!(c[2], link(Some(1), Some(3), false, Some(1), None));
    }
}
