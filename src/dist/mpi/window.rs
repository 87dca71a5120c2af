//! Memory the ranks of one machine share (MPI-3 `MPI_Win_allocate_shared`),
//! for [`Collective::relay`](crate::dist::Collective::relay) without
//! messages: a rank publishes a part by copying it into its own region of
//! the window; the next rank copies it out of there. Open MPI's
//! shared-memory transport moves a 1 MiB message at about 2 GB/s here
//! (`process_vm_readv`, 3.7 ms of L's 7.45 MB gradient a step); two
//! `memcpy`s through the window run at about 10 GB/s.
//!
//! Each rank's region is a [`Header`] and `floats` values. The header
//! counts the parts the rank has published and the parts its readers have
//! taken, and holds each published part's range, in a ring:
//!
//! ```text
//! writer: (at a relay's start) wait until taken == published
//!         copy part into its region, ring[published % RING] = range, published += 1
//! reader: wait until published(prev) > parts read from prev so far
//!         check the range, copy the part out, taken(prev) += 1
//! ```
//!
//! A relay writes parts at disjoint ranges, and a writer starts a relay
//! only when every part it published before has been taken, so no part is
//! overwritten before it is read. Both ends of a link decide alike whether
//! to use the window (it depends only on values every rank shares), and
//! ranks make the same relays in the same order, so the counts match.

use crate::dist::{relay_parts, RelayWork};
use crate::error::{Error, Result};
use mpi::ffi;
use std::cell::Cell;
use std::ops::Range;
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Parts a relay may have in flight through the window.
pub(super) const RING: usize = 1024;

/// The counters at the start of a rank's region (each on its own cache
/// line: the writer bumps one, its readers the other).
#[repr(C, align(64))]
struct Header {
    published: AtomicU64,
    _own_line: [u64; 7],
    taken: AtomicU64,
    _own_line_too: [u64; 7],
    /// Start and length of published part `k` at `k % RING`.
    ring: [[AtomicU64; 2]; RING],
}

/// Bytes of a region before its values.
const DATA_AT: usize = std::mem::size_of::<Header>();

/// A shared window over every rank of the run (only made when they are all
/// on one machine). Made and freed collectively, while MPI is initialised.
pub(super) struct Window {
    win: ffi::MPI_Win,
    node: ffi::MPI_Comm,
    /// Each rank's region, by rank.
    regions: Vec<*mut u8>,
    floats: usize,
    rank: usize,
    /// Parts this rank has read from each rank's region.
    read: Vec<Cell<u64>>,
}

// SAFETY: the raw pointers are into memory that lives until `Drop` (the
// window's), and the MPI handles are plain values; MPI is initialised with
// MPI_THREAD_MULTIPLE, so the window may be used from any thread. Access
// goes through the caller's Mutex (the read counts are `Cell`s: the
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
        // 64-byte boundary.
        let bytes = DATA_AT + floats * 4 + 64;
        let mut base: *mut c_void = ptr::null_mut();
        // SAFETY: collective on `node`; `base` receives this rank's region
        // of `bytes` bytes, `win` the window.
        let code = unsafe {
            ffi::MPI_Win_allocate_shared(
                bytes as ffi::MPI_Aint,
                1,
                ffi::RSMPI_INFO_NULL,
                node,
                (&mut base as *mut *mut c_void).cast(),
                &mut win,
            )
        };
        check(rank, "MPI_Win_allocate_shared", code)?;
        let mut window =
            Window { win, node, regions: Vec::with_capacity(size), floats, rank, read: vec![Cell::new(0); size] };
        for q in 0..size {
            let (mut len, mut unit, mut at): (ffi::MPI_Aint, c_int, *mut c_void) = (0, 0, ptr::null_mut());
            // SAFETY: `win` is a shared window over `node`, whose ranks are
            // 0..size; the call writes rank q's region's size and address.
            let code = unsafe {
                ffi::MPI_Win_shared_query(win, q as c_int, &mut len, &mut unit, (&mut at as *mut *mut c_void).cast())
            };
            check(rank, "MPI_Win_shared_query", code)?;
            if (len as usize) < bytes {
                let msg = format!("rank {q}'s shared region is {len} bytes, {bytes} expected");
                return Err(Error::collective(rank, msg));
            }
            let skip = (at as usize).next_multiple_of(64) - at as usize;
            // SAFETY: `skip < 64`, within the region of `bytes` bytes.
            window.regions.push(unsafe { at.cast::<u8>().add(skip) });
        }
        // SAFETY: this rank's region (from its 64-byte boundary) holds at
        // least `DATA_AT + floats * 4` bytes, and no other rank touches it
        // before the barrier below.
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

    /// Where rank `q`'s values `r` start (`r` within `floats`: the relay
    /// checks it before any part is moved).
    fn values(&self, q: usize, r: &Range<usize>) -> *mut f32 {
        assert!(r.start <= r.end && r.end <= self.floats, "relay part {r:?} outside the window");
        // SAFETY: the region holds `DATA_AT + floats * 4` bytes from its
        // 64-byte boundary, and `r.start <= floats` (asserted above).
        unsafe { self.regions[q].add(DATA_AT).cast::<f32>().add(r.start) }
    }

    /// Waits (spinning, then yielding) until every part this rank has
    /// published has been taken: called before it publishes in a relay.
    fn wait_taken(&self) {
        let h = self.header(self.rank);
        spin_until(|| h.taken.load(Ordering::Acquire) == h.published.load(Ordering::Relaxed));
    }

    /// Copies `part` (at range `r` of the relay's data) into this rank's
    /// region for the next rank to take.
    fn publish(&self, r: &Range<usize>, part: &[f32]) {
        let h = self.header(self.rank);
        let k = h.published.load(Ordering::Relaxed);
        // SAFETY: `r` lies within `floats` (checked by the relay) and
        // `part` has its length; no reader touches these values until
        // `published` passes `k` (below), and every earlier part at this
        // range has been taken (`wait_taken` at the relay's start).
        unsafe { ptr::copy_nonoverlapping(part.as_ptr(), self.values(self.rank, r), part.len()) };
        let slot = &h.ring[k as usize % RING];
        slot[0].store(r.start as u64, Ordering::Relaxed);
        slot[1].store(r.len() as u64, Ordering::Relaxed);
        h.published.store(k + 1, Ordering::Release);
    }

    /// Copies the next part rank `from` publishes into `part` (range `r`
    /// of the relay's data), once it is there; an error when `from`
    /// published another range.
    fn take(&self, from: usize, r: &Range<usize>, part: &mut [f32]) -> Result<()> {
        let k = self.read[from].get();
        let h = self.header(from);
        spin_until(|| h.published.load(Ordering::Acquire) > k);
        let slot = &h.ring[k as usize % RING];
        let (start, len) = (slot[0].load(Ordering::Relaxed) as usize, slot[1].load(Ordering::Relaxed) as usize);
        if (start, len) != (r.start, r.len()) {
            let msg = format!("rank {from} published values {start}..{}, {r:?} expected", start + len);
            return Err(Error::collective(self.rank, msg));
        }
        // SAFETY: rank `from` wrote these values before its Release store
        // of `published` (Acquire above) and leaves them until `taken`
        // passes `k`; `r` lies within `floats`, `part` has its length.
        unsafe { ptr::copy_nonoverlapping(self.values(from, r), part.as_mut_ptr(), part.len()) };
        h.taken.fetch_add(1, Ordering::Release);
        self.read[from].set(k + 1);
        Ok(())
    }
}

impl Window {
    /// [`Collective::relay`](crate::dist::Collective::relay) through the
    /// window: `slices[i]` is part `i` (at `parts[i]`, within
    /// [`floats`](Self::floats)).
    pub(super) fn relay(
        &self,
        prev: Option<usize>,
        next: Option<usize>,
        slices: Vec<&mut [f32]>,
        parts: &[Range<usize>],
        work: &mut RelayWork<'_>,
    ) -> Result<()> {
        if next.is_some() {
            self.wait_taken();
        }
        relay_parts(
            slices,
            work,
            |i, part| prev.map_or(Ok(()), |p| self.take(p, &parts[i], part)),
            |i, part| {
                if next.is_some() {
                    self.publish(&parts[i], part);
                }
                Ok(())
            },
        )
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
