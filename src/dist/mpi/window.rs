//! Memory the ranks of one machine share (MPI-3 `MPI_Win_allocate_shared`),
//! for [`Collective::chain`](crate::dist::Collective::chain) without
//! messages and without copies between ranks: the gradient's sums are made
//! in place, in one buffer every rank maps. Open MPI's shared-memory
//! transport moves a 1 MiB message at about 2 GB/s here
//! (`process_vm_readv`, 3.7 ms of L's 7.45 MB gradient a step); copying
//! each part into the sender's memory and out again took 2-3.5 ms a step.
//!
//! Rank 0's region holds a [`Header`] and the sum buffer of `floats`
//! values; every other rank's region, a header. A header says how far its
//! rank has got: the round in which it last finished each part (with the
//! part's range), and the last round whose finished sums it has taken
//! (`done`):
//!
//! ```text
//! a rank that starts parts: (at a round's start) wait until done ≥ round − 1 on every rank
//! each rank of the chain:   per part, in its order: wait until the rank before it on the
//!                           part has finished it, add its terms onto the part of the sum
//!                           buffer in place (or write them, if it starts the part),
//!                           publish the part; the part's last rank takes it at once
//! every rank:               per part another rank finishes: wait for that, take it
//! every rank, at the end:   done = round
//! ```
//!
//! The ranks of a part are the chain's in rank order, but for the parts a
//! [`Pairing`] of two ranks swaps, which the second starts and the first
//! finishes. To take a part is to copy it into the rank's own gradient,
//! or, in a chain with a `then`
//! ([`chain_then`](crate::dist::Collective::chain_then), the trainer's
//! step), to hand it to `then` where it lies in the sum buffer.
//!
//! So a part of the sum buffer is written by one rank at a time, in the
//! part's rank order, and read only once its last rank has finished it;
//! the next round writes over it only after every rank has taken it.
//! Every rank makes the same calls in the same order, so the rounds match.

use crate::dist::{Chain, ChainWork, FinishedWork, Pairing};
use crate::error::{Error, Result};
use mpi::ffi;
use std::cell::Cell;
use std::ops::Range;
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Parts a round may have.
pub(super) const RING: usize = 1024;

/// A rank's progress at the start of its region (`done` on its own cache
/// line: ranks wait on it while its owner works).
#[repr(C, align(64))]
struct Header {
    /// The last round whose finished sums this rank has taken.
    done: AtomicU64,
    _own_line: [u64; 7],
    /// The round in which this rank last finished part `i`, at `i`.
    finished: [AtomicU64; RING],
    /// Start and length of part `i` of that round, at `i`.
    ring: [[AtomicU64; 2]; RING],
}

/// Bytes of a region before its values.
const DATA_AT: usize = std::mem::size_of::<Header>();

/// A shared window over every rank of the run (only made when they are all
/// on one machine). Made and freed collectively, while MPI is initialised.
pub(super) struct Window {
    win: ffi::MPI_Win,
    node: ffi::MPI_Comm,
    /// Each rank's region (its header), by rank.
    regions: Vec<*mut u8>,
    floats: usize,
    rank: usize,
    /// Rounds this rank has begun (every rank alike).
    round: Cell<u64>,
}

// SAFETY: the raw pointers are into memory that lives until `Drop` (the
// window's), and the MPI handles are plain values; MPI is initialised with
// MPI_THREAD_MULTIPLE, so the window may be used from any thread. Access
// goes through the caller's Mutex (the round count is a `Cell`: the
// window is `Send`, not `Sync`).
unsafe impl Send for Window {}

fn check(rank: usize, what: &str, code: c_int) -> Result<()> {
    match code {
        0 => Ok(()),
        e => Err(Error::collective(rank, format!("{what} failed (MPI error {e})"))),
    }
}

impl Window {
    /// Collective over every rank: a window of `floats` values a rank, or
    /// `None` (on every rank alike) when the ranks are not all on one
    /// machine.
    pub(super) fn new(rank: usize, size: usize, floats: usize) -> Result<Option<Window>> {
        // SAFETY: reads the handle constants of the MPI library.
        let (mut node, mut win) = unsafe { (ffi::RSMPI_COMM_NULL, ffi::RSMPI_WIN_NULL) };
        // SAFETY: MPI is initialised (the caller holds the universe); `node`
        // is written by the call. Keyed by world rank, so node ranks are
        // world ranks when the node holds every rank.
        let code = unsafe {
            ffi::MPI_Comm_split_type(
                ffi::RSMPI_COMM_WORLD,
                ffi::RSMPI_COMM_TYPE_SHARED,
                rank as c_int,
                ffi::RSMPI_INFO_NULL,
                &mut node,
            )
        };
        check(rank, "MPI_Comm_split_type", code)?;
        let mut on_node: c_int = 0;
        // SAFETY: `node` is the communicator just made.
        check(rank, "MPI_Comm_size", unsafe { ffi::MPI_Comm_size(node, &mut on_node) })?;
        // Every rank sees the same answer: either all share one node or
        // some node holds fewer than all.
        if on_node as usize != size {
            // SAFETY: frees the communicator made above (collective on it).
            check(rank, "MPI_Comm_free", unsafe { ffi::MPI_Comm_free(&mut node) })?;
            return Ok(None);
        }
        // The regions are placed end to end at no particular alignment:
        // each is 64 bytes more than it needs, its header at the first
        // 64-byte boundary. Rank 0's holds the sum buffer too.
        let bytes = |q: usize| DATA_AT + if q == 0 { floats * 4 } else { 0 } + 64;
        let mut base: *mut c_void = ptr::null_mut();
        // SAFETY: collective on `node`; `base` receives this rank's region
        // of `bytes(rank)` bytes, `win` the window.
        let code = unsafe {
            ffi::MPI_Win_allocate_shared(
                bytes(rank) as ffi::MPI_Aint,
                1,
                ffi::RSMPI_INFO_NULL,
                node,
                (&mut base as *mut *mut c_void).cast(),
                &mut win,
            )
        };
        check(rank, "MPI_Win_allocate_shared", code)?;
        let mut window = Window { win, node, regions: Vec::with_capacity(size), floats, rank, round: Cell::new(0) };
        for q in 0..size {
            let (mut len, mut unit, mut at): (ffi::MPI_Aint, c_int, *mut c_void) = (0, 0, ptr::null_mut());
            // SAFETY: `win` is a shared window over `node`, whose ranks are
            // 0..size; the call writes rank q's region's size and address.
            let code = unsafe {
                ffi::MPI_Win_shared_query(win, q as c_int, &mut len, &mut unit, (&mut at as *mut *mut c_void).cast())
            };
            check(rank, "MPI_Win_shared_query", code)?;
            if (len as usize) < bytes(q) {
                let msg = format!("rank {q}'s shared region is {len} bytes, {} expected", bytes(q));
                return Err(Error::collective(rank, msg));
            }
            let skip = (at as usize).next_multiple_of(64) - at as usize;
            // SAFETY: `skip < 64`, within the region of `bytes(q)` bytes.
            window.regions.push(unsafe { at.cast::<u8>().add(skip) });
        }
        // SAFETY: this rank's region (from its 64-byte boundary) holds at
        // least `DATA_AT` bytes, and no other rank touches it before the
        // barrier below.
        unsafe { ptr::write_bytes(window.regions[rank], 0, DATA_AT) };
        // SAFETY: collective on `node`; after it every header is zeroed.
        check(rank, "MPI_Barrier", unsafe { ffi::MPI_Barrier(node) })?;
        Ok(Some(window))
    }

    /// Values a rank's region holds.
    pub(super) fn floats(&self) -> usize {
        self.floats
    }

    fn header(&self, q: usize) -> &Header {
        // SAFETY: every region starts with a zeroed, 64-aligned `Header`
        // (made in `new`), which holds only atomics, and lives as long as
        // `self`.
        unsafe { &*self.regions[q].cast::<Header>() }
    }

    /// Where values `r` of the sum buffer start (`r` within `floats`: the
    /// caller checks it before any part is moved).
    fn sums(&self, r: &Range<usize>) -> *mut f32 {
        assert!(r.start <= r.end && r.end <= self.floats, "chain part {r:?} outside the window");
        // SAFETY: rank 0's region holds `DATA_AT + floats * 4` bytes from
        // its 64-byte boundary, and `r.start <= floats` (asserted above).
        unsafe { self.regions[0].add(DATA_AT).cast::<f32>().add(r.start) }
    }

    /// Waits (spinning, then yielding) until rank `q` has finished part
    /// `i` (range `r`) of `round`; an error when it finished another range.
    fn wait(&self, q: usize, round: u64, i: usize, r: &Range<usize>) -> Result<()> {
        let h = self.header(q);
        spin_until(|| h.finished[i].load(Ordering::Acquire) >= round);
        let (start, len) =
            (h.ring[i][0].load(Ordering::Relaxed) as usize, h.ring[i][1].load(Ordering::Relaxed) as usize);
        if (start, len) != (r.start, r.len()) {
            let msg = format!("rank {q} finished values {start}..{}, {r:?} expected", start + len);
            return Err(Error::collective(self.rank, msg));
        }
        Ok(())
    }

    /// Says that this rank has finished part `i` (range `r`) of `round`.
    fn publish(&self, round: u64, i: usize, r: &Range<usize>) {
        let h = self.header(self.rank);
        h.ring[i][0].store(r.start as u64, Ordering::Relaxed);
        h.ring[i][1].store(r.len() as u64, Ordering::Relaxed);
        h.finished[i].store(round, Ordering::Release);
    }

    /// [`Collective::chain`](crate::dist::Collective::chain) in the sum
    /// buffer: `slices[i]` is part `i` of the rank's own gradient (at
    /// `parts[i]`, within [`floats`](Self::floats); at most [`RING`]
    /// parts). With `then`,
    /// [`chain_then`](crate::dist::Collective::chain_then): each finished
    /// part goes to `then` from the sum buffer, and nothing is copied into
    /// `slices`. `pairing` applies when the chain is two ranks.
    pub(super) fn chain(
        &self,
        chain: Chain,
        (mut slices, parts): (Vec<&mut [f32]>, &[Range<usize>]),
        pairing: Option<Pairing<'_>>,
        work: &mut ChainWork<'_>,
        mut then: Option<&mut FinishedWork<'_>>,
    ) -> Result<()> {
        let round = self.round.get() + 1;
        self.round.set(round);
        let roles = Roles::of(chain, self.rank, self.regions.len(), parts.len(), pairing)?;
        if roles.starts_some {
            for q in 0..self.regions.len() {
                let h = self.header(q);
                spin_until(|| h.done.load(Ordering::Acquire) + 1 >= round);
            }
        }
        if chain.member {
            for i in roles.order(parts.len()) {
                let (part, r) = (&mut slices[i], &parts[i]);
                work(i, None)?;
                let prev = roles.prev(i);
                if let Some(p) = prev {
                    self.wait(p, round, i, r)?;
                }
                // SAFETY: values `r` of the sum buffer (within `floats`,
                // asserted by `sums`) are this rank's alone until it
                // publishes the part: the rank before it on the part has
                // published it (Acquire in `wait`), or this rank starts the
                // part and every rank is done with the last round (Acquire
                // above); the ranks after it wait for its Release in
                // `publish`. After publishing, the rank only reads the part,
                // as the other ranks do, and no rank writes it before every
                // rank is done with the round.
                let sum = unsafe { std::slice::from_raw_parts_mut(self.sums(r), r.len()) };
                work(i, Some((&mut *sum, prev.is_some())))?;
                self.publish(round, i, r);
                if roles.last(i) == self.rank {
                    take(then.as_deref_mut(), i, sum, part)?;
                }
            }
        }
        for (i, (part, r)) in slices.iter_mut().zip(parts).enumerate() {
            let last = roles.last(i);
            if last == self.rank {
                continue;
            }
            self.wait(last, round, i, r)?;
            // SAFETY: the part's last rank has finished it (Acquire in
            // `wait`); no rank writes it again before this rank says it is
            // done with the round (below).
            take(then.as_deref_mut(), i, unsafe { std::slice::from_raw_parts(self.sums(r), r.len()) }, part)?;
        }
        self.header(self.rank).done.store(round, Ordering::Release);
        Ok(())
    }
}

/// Who does what to each part of one round, as one rank sees it: the
/// chain's ranks in rank order, or, for a part a [`Pairing`] swaps (only
/// in a chain of two ranks), the second first.
struct Roles<'a> {
    chain: Chain,
    rank: usize,
    /// The pairing, the chain's first rank, and which of the two this is.
    pair: Option<(Pairing<'a>, usize, usize)>,
    /// Whether this rank starts any part.
    starts_some: bool,
}

impl<'a> Roles<'a> {
    /// The roles of `rank` (of `ranks`) in a chain of `n` parts; an error
    /// for a pairing of other lengths, or whose orders are not each every
    /// part once.
    fn of(chain: Chain, rank: usize, ranks: usize, n: usize, pairing: Option<Pairing<'a>>) -> Result<Roles<'a>> {
        let two = ranks == 2 && chain.member && (chain.prev.is_some() || chain.last != rank);
        let pair = match pairing.filter(|_| two) {
            None => None,
            Some(p) => {
                let first = chain.prev.unwrap_or(rank);
                let me = usize::from(rank != first);
                let whole = |o: &[usize]| {
                    let mut seen = [false; RING];
                    o.len() == n && o.iter().all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
                };
                if p.swapped.len() != n || !whole(p.order[0]) || !whole(p.order[1]) {
                    return Err(Error::collective(rank, format!("a pairing that is not one of {n} parts")));
                }
                Some((p, first, me))
            }
        };
        let swaps = pair.is_some_and(|(p, _, _)| p.swapped.contains(&true));
        let starts_some = chain.member && (chain.prev.is_none() || swaps);
        Ok(Roles { chain, rank, pair, starts_some })
    }

    fn swapped(&self, i: usize) -> bool {
        self.pair.is_some_and(|(p, _, _)| p.swapped[i])
    }

    /// The rank whose sums of part `i` this rank adds onto, if any.
    fn prev(&self, i: usize) -> Option<usize> {
        match self.pair {
            Some((_, first, _)) if self.swapped(i) => (self.rank == first).then_some(self.chain.last),
            _ => self.chain.prev,
        }
    }

    /// The rank that finishes part `i`.
    fn last(&self, i: usize) -> usize {
        match self.pair {
            Some((_, first, _)) if self.swapped(i) => first,
            _ => self.chain.last,
        }
    }

    /// The parts in the order this rank works on them.
    fn order(&self, n: usize) -> impl Iterator<Item = usize> + 'a {
        let given = self.pair.map(|(p, _, me)| p.order[me]);
        (0..n).map(move |k| given.map_or(k, |o| o[k]))
    }
}

impl Drop for Window {
    /// Collective: every rank frees its window at the same point (when a
    /// larger one replaces it, or before MPI is finalised).
    fn drop(&mut self) {
        // SAFETY: `win` and `node` were made in `new` and are freed once;
        // MPI is still initialised (the universe outlives the window).
        unsafe {
            ffi::MPI_Win_free(&mut self.win);
            ffi::MPI_Comm_free(&mut self.node);
        }
    }
}

/// A rank's use of finished part `i` of the sum, `sum`: handed to `then`
/// where it lies, or copied into the rank's own gradient, `part`.
fn take(then: Option<&mut FinishedWork<'_>>, i: usize, sum: &[f32], part: &mut [f32]) -> Result<()> {
    match then {
        Some(then) => then(i, sum),
        None => {
            part.copy_from_slice(sum);
            Ok(())
        }
    }
}

/// Spins on `ready`, yielding the core after the first thousand tries (a
/// rank waits for another's whole pass at times).
fn spin_until(mut ready: impl FnMut() -> bool) {
    let mut tries = 0u32;
    while !ready() {
        if tries < 1000 {
            std::hint::spin_loop();
            tries += 1;
        } else {
            std::thread::yield_now();
        }
    }
}
