//! Fork-join on rayon's pool, with waits that spin.
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
//! - [`halves`] splits a [`Team`](super::Team)'s work with [`join`].
//!
//! Whoever spins yields the core to the OS between its looks for work, and
//! after [`SPIN`] without finding any falls back to rayon's waits, so that
//! a core another process needs is given up.

use super::Split;
use std::cell::Cell;
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
pub(super) fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
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
pub(super) fn keep_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
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

/// `f` on every item of `work`, cut in halves with [`join`] into `runs`
/// runs, each in order. Every run is tried and the first run's error (in
/// item order) is returned.
pub(super) fn halves<S: Split, E: Send>(
    work: S,
    runs: usize,
    f: &(impl Fn(S::Item) -> Result<(), E> + Sync),
) -> Result<(), E> {
    let n = work.len();
    if runs < 2 || n < 2 {
        return work.items().try_for_each(f);
    }
    let (a, b) = work.split_at(n / 2);
    let (ra, rb) = join(|| halves(a, runs / 2, f), || halves(b, runs - runs / 2, f));
    ra.and(rb)
}
