//! Fork-join for the training step on rayon's pool, with waits that spin.
//!
//! rayon puts a thread to sleep after about 32 rounds of `sched_yield`
//! without work: a pool thread between a step's parallel parts, and a
//! `join`'s caller waiting for the half another thread stole (4.5 sleeps a
//! step for scikit-learn's default network on two threads). Waking it
//! costs a futex call and, on a virtual machine whose idle vCPUs halt, as
//! long as the host takes to run the vCPU again. In a spell when this
//! machine's host was busy, our fits on two threads lost 2.5-3 s of CPU
//! each to it and scikit-learn's, whose OpenBLAS threads spin, 0.1-0.9 s
//! (BENCHMARKS.md; the halting is the likely cause, not a shown one). Here:
//!
//! - [`join`]'s caller waits for the other half by running the pool's work
//!   or spinning;
//! - [`keep_awake`] has the pool's other threads look for work the same way
//!   while a fit's steps run, instead of sleeping between their parts;
//! - [`try_for_each`] splits its work with [`join`].
//!
//! Whoever spins yields the core to the OS between its looks for work, and
//! after [`SPIN`] without finding any falls back to rayon's waits, so that
//! a core another process needs is given up.

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a thread spins without finding work before it leaves the
/// waiting to rayon (and may sleep).
const SPIN: Duration = Duration::from_millis(1);

thread_local! {
    /// How many of this module's tasks (join halves, a watch) this thread is
    /// running, nested through the work it runs while waiting: a watch that
    /// starts inside one would hold up the task below it, so it ends at once.
    static BUSY: Cell<u32> = const { Cell::new(0) };
}

/// Counts a task of this module on this thread while it lives.
struct Busy;

impl Busy {
    fn enter() -> Busy {
        BUSY.with(|b| b.set(b.get() + 1));
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.with(|b| b.set(b.get() - 1));
    }
}

/// Raises the flag when dropped, unwinding included.
struct Raise<'a>(&'a AtomicBool);

impl Drop for Raise<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs the pool's work, or yields the core (`sched_yield`, as OpenBLAS's
/// idle threads do), until `done` is raised or [`SPIN`] passes without work
/// found (then returns with `done` still low). No `pause` instructions: a
/// loop of them is what KVM's pause-loop exiting takes for a vCPU spinning
/// on a lock, and deschedules.
fn spin_until(done: &AtomicBool) {
    let mut idle_since = None;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle_since = None;
            continue;
        }
        let now = Instant::now();
        if now - *idle_since.get_or_insert(now) > SPIN {
            return;
        }
        std::thread::yield_now();
    }
}

/// `rayon::join(a, b)`, but the caller, once `a` is done, waits for `b` by
/// running the pool's work or yielding its core (up to [`SPIN`] without
/// work) rather than sleeping. A panic in either resumes here, as with
/// rayon's.
pub(crate) fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    let done = AtomicBool::new(false);
    rayon::join(
        || {
            let _busy = Busy::enter();
            let r = a();
            spin_until(&done);
            r
        },
        || {
            let _busy = Busy::enter();
            let _done = Raise(&done);
            b()
        },
    )
}

/// Runs `f` on this thread of a rayon pool while the pool's other threads
/// look for work without sleeping (up to [`SPIN`] at a time without any,
/// yielding their cores meanwhile), so that the `join`s of the steps `f`
/// takes find them awake. Outside a pool, or in a pool of one thread, it
/// only runs `f`.
pub(crate) fn keep_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // Asked outside a pool, `current_num_threads` would start rayon's global one.
    let threads = rayon::current_thread_index().map_or(1, |_| rayon::current_num_threads());
    if threads <= 1 {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        for _ in 1..threads {
            // A watch: taken by an idle thread (thieves take the oldest
            // job), it looks for work until `f` is done. One this thread
            // pops while `f` waits, or a thread busy below it, ends at once.
            s.spawn(|_| {
                if BUSY.with(Cell::get) == 0 {
                    let _busy = Busy::enter();
                    spin_until(&done);
                }
            });
        }
        let _busy = Busy::enter();
        let _done = Raise(&done);
        f()
    })
}

/// Work cut at item boundaries, for [`try_for_each`]: a mutable slice,
/// chunks of a slice, a range of indices, or several of them zipped as a
/// pair.
pub(crate) trait Split: Sized + Send {
    type Item;
    /// How many items.
    fn len(&self) -> usize;
    /// The first `i ≤ len` items and the rest.
    fn split_at(self, i: usize) -> (Self, Self);
    /// The items in order.
    fn items(self) -> impl Iterator<Item = Self::Item>;
}

impl<'a, T: Send> Split for &'a mut [T] {
    type Item = &'a mut T;
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        self.split_at_mut(i)
    }
    fn items(self) -> impl Iterator<Item = &'a mut T> {
        self.iter_mut()
    }
}

/// Indices, to number the items of what it is zipped with.
impl Split for Range<usize> {
    type Item = usize;
    fn len(&self) -> usize {
        ExactSizeIterator::len(self)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let mid = self.start + i;
        (self.start..mid, mid..self.end)
    }
    fn items(self) -> impl Iterator<Item = usize> {
        self
    }
}

/// Two zipped: as many items as the shorter has.
impl<A: Split, B: Split> Split for (A, B) {
    type Item = (A::Item, B::Item);
    fn len(&self) -> usize {
        self.0.len().min(self.1.len())
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let ((a0, a1), (b0, b1)) = (self.0.split_at(i), self.1.split_at(i));
        ((a0, b0), (a1, b1))
    }
    fn items(self) -> impl Iterator<Item = Self::Item> {
        self.0.items().zip(self.1.items())
    }
}

/// A mutable slice in chunks of `size` (the last may be short), then empty
/// chunks up to `n` in all: [`padded`](Self::padded) stands an empty slice
/// in for an unused optimizer slot beside the parameters' chunks.
pub(crate) struct ChunksMut<'a, T> {
    s: &'a mut [T],
    size: usize,
    n: usize,
}

impl<'a, T> ChunksMut<'a, T> {
    /// The chunks of `s`, `size ≥ 1` values each.
    pub(crate) fn new(s: &'a mut [T], size: usize) -> Self {
        let size = size.max(1);
        ChunksMut { n: s.len().div_ceil(size), s, size }
    }

    /// `n` chunks: those of `s`, then empty ones.
    pub(crate) fn padded(s: &'a mut [T], size: usize, n: usize) -> Self {
        let c = ChunksMut::new(s, size);
        ChunksMut { n: n.max(c.n), ..c }
    }

    /// How many chunks.
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

impl<'a, T: Send> Split for ChunksMut<'a, T> {
    type Item = &'a mut [T];
    fn len(&self) -> usize {
        self.n
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let (l, r) = self.s.split_at_mut((i * self.size).min(self.s.len()));
        (ChunksMut { s: l, size: self.size, n: i }, ChunksMut { s: r, size: self.size, n: self.n - i })
    }
    fn items(self) -> impl Iterator<Item = &'a mut [T]> {
        let full = self.s.len().div_ceil(self.size);
        let empties = std::iter::repeat_with(|| -> &'a mut [T] { &mut [] }).take(self.n - full);
        self.s.chunks_mut(self.size).chain(empties)
    }
}

/// A slice in chunks of `size` (the last may be short).
pub(crate) struct Chunks<'a, T> {
    s: &'a [T],
    size: usize,
}

impl<'a, T> Chunks<'a, T> {
    /// The chunks of `s`, `size ≥ 1` values each.
    pub(crate) fn new(s: &'a [T], size: usize) -> Self {
        Chunks { s, size: size.max(1) }
    }
}

impl<'a, T: Sync> Split for Chunks<'a, T> {
    type Item = &'a [T];
    fn len(&self) -> usize {
        self.s.len().div_ceil(self.size)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let (l, r) = self.s.split_at((i * self.size).min(self.s.len()));
        (Chunks { s: l, size: self.size }, Chunks { s: r, size: self.size })
    }
    fn items(self) -> impl Iterator<Item = &'a [T]> {
        self.s.chunks(self.size)
    }
}

/// `f` on every item of `work`: across the current rayon pool when `par`
/// (halved with [`join`] into about four runs a thread, each in order),
/// else in order on this thread. With `par`, every run is tried and the
/// first run's error (in item order) is returned; without, the first error
/// stops the rest.
pub(crate) fn try_for_each<S: Split, E: Send>(
    work: S,
    par: bool,
    f: impl Fn(S::Item) -> Result<(), E> + Sync,
) -> Result<(), E> {
    if par {
        halves(work, 4 * rayon::current_num_threads(), &f)
    } else {
        work.items().try_for_each(f)
    }
}

/// [`try_for_each`] cut into `runs` runs.
fn halves<S: Split, E: Send>(work: S, runs: usize, f: &(impl Fn(S::Item) -> Result<(), E> + Sync)) -> Result<(), E> {
    let n = work.len();
    if runs < 2 || n < 2 {
        return work.items().try_for_each(f);
    }
    let (a, b) = work.split_at(n / 2);
    let (ra, rb) = join(|| halves(a, runs / 2, f), || halves(b, runs - runs / 2, f));
    ra.and(rb)
}

/// [`try_for_each`] for work that cannot fail.
pub(crate) fn for_each<S: Split>(work: S, par: bool, f: impl Fn(S::Item) + Sync) {
    let r = try_for_each(work, par, |item| {
        f(item);
        Ok::<(), std::convert::Infallible>(())
    });
    match r {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// Every item is visited once, with its own chunk of each zipped part,
    /// in parallel and in order alike; padded chunks are empty.
    #[test]
    fn try_for_each_visits_each_item_once_with_its_chunks() {
        for threads in [1, 2, 3] {
            for len in [0usize, 1, 5, 31, 64, 100] {
                for par in [false, true] {
                    let mut out = vec![0u32; len];
                    let src: Vec<u32> = (0..len as u32).collect();
                    let mut slot: Vec<u32> = Vec::new();
                    let n = len.div_ceil(7);
                    let seen = Mutex::new(Vec::new());
                    pool(threads).install(|| {
                        let work = (
                            0..n,
                            ((ChunksMut::new(&mut out, 7), Chunks::new(&src, 7)), ChunksMut::padded(&mut slot, 7, n)),
                        );
                        for_each(work, par, |(i, ((o, s), e))| {
                            assert!(e.is_empty());
                            assert_eq!(o.len(), s.len());
                            for (o, s) in o.iter_mut().zip(s) {
                                *o = s * 2 + 1;
                            }
                            seen.lock().unwrap().push(i);
                        });
                    });
                    let mut seen = seen.into_inner().unwrap();
                    seen.sort_unstable();
                    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "threads {threads} len {len} par {par}");
                    assert!(out.iter().zip(&src).all(|(o, s)| *o == s * 2 + 1));
                }
            }
        }
    }

    /// The first error in item order comes back, whichever run fails first.
    #[test]
    fn try_for_each_returns_the_first_error() {
        for par in [false, true] {
            let mut v: Vec<usize> = (0..40).collect();
            let r = pool(2).install(|| try_for_each(&mut v[..], par, |x| if *x % 10 == 7 { Err(*x) } else { Ok(()) }));
            assert_eq!(r, Err(7), "par {par}");
        }
    }

    /// A panic in either half of a join resumes in the caller, and nothing
    /// hangs: the waiting half is told the other is done by unwinding too.
    #[test]
    fn a_panic_in_a_join_resumes_in_the_caller() {
        let p = pool(2);
        for which in [0, 1] {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                p.install(|| join(|| assert_ne!(which, 0, "left"), || assert_ne!(which, 1, "right")))
            }));
            assert!(r.is_err(), "half {which}");
        }
        assert_eq!(p.install(|| join(|| 1, || 2)), (1, 2));
    }

    /// `keep_awake` gives back `f`'s result with the work `f` splits done
    /// once per item, ends its watches (the scope returns), and passes a
    /// panic in `f` on with the pool still usable; a pool of one and a
    /// caller outside any pool just run `f`.
    #[test]
    fn keep_awake_runs_f_and_ends_its_watches() {
        let p = pool(3);
        let sum = AtomicUsize::new(0);
        let r = p.install(|| {
            keep_awake(|| {
                for _ in 0..50 {
                    for_each(0..64, true, |i| {
                        sum.fetch_add(i, Ordering::Relaxed);
                    });
                }
                42
            })
        });
        assert_eq!((r, sum.load(Ordering::Relaxed)), (42, 50 * (63 * 64 / 2)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.install(|| keep_awake(|| -> () { panic!("in f") }))
        }));
        assert!(panicked.is_err());
        assert_eq!(p.install(|| join(|| 1, || 2)), (1, 2));
        assert_eq!(keep_awake(|| 7), 7);
        assert_eq!(pool(1).install(|| keep_awake(|| 8)), 8);
    }
}
