//! One execution layer under training and inference: a [`Pool`] of
//! threads, and the [`Team`] a piece of work is split across.
//!
//! A trainer and a predictor each own a pool. [`Pool::run`] runs a closure
//! on one of the pool's threads and hands it a team: the whole pool when
//! the work is worth it (at least the pool's `min_flops` floating-point
//! operations, [`default_min_parallel_flops`] unless set: one rule for
//! training and inference), a team of one
//! otherwise. Work splits only through a team ([`Team::try_for_each`]),
//! and a team exists only inside `run`, so no work can
//! reach rayon's global pool or another pool's threads. Scratch space goes
//! with the items being split, never with a thread.
//!
//! [`Pool::stay`] runs a loop of many steps (an epoch) on a pool thread,
//! the pool's other threads spinning instead of sleeping between the
//! steps' parallel parts, so that no step hands over to the pool and back.

mod join;
mod pool;
mod split;

use crate::error::Result;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

pub(crate) use split::{Chunks, ChunksMut, Split};

/// The work below which a pool runs on one thread: 5 MFLOP, for training
/// steps and predictions alike. Measured on a 2-core Zen 4, samples/s of
/// 784-128-10 on one thread against two, 3 rounds: training steps (inside
/// the pool, `backprop bench`) at batch 16 (6.5 MFLOP) 132k against
/// 140-157k, at 32 (13 MFLOP) 176-177k against 214-235k; forward passes (a
/// hand-over a call) at 32 rows (6.5 MFLOP) 402-407k against 439-470k.
pub fn default_min_parallel_flops() -> f64 {
    5e6
}

/// Threads that split work, for the length of one [`Pool::run`]: every
/// thread of the pool, or one (everything in order, on the calling
/// thread). `'t` ties it to the `run` that made it, so it cannot outlive it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Team<'t> {
    threads: usize,
    _run: PhantomData<&'t ()>,
}

impl<'t> Team<'t> {
    /// A team of one: work in order, on the calling thread, anywhere.
    pub(crate) fn alone() -> Team<'static> {
        Team { threads: 1, _run: PhantomData }
    }

    /// The threads of the team.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// The team each of `parts` pieces of work gets when they run side by
    /// side: `threads / parts` threads, at least one.
    pub(crate) fn share(&self, parts: usize) -> Team<'t> {
        Team { threads: (self.threads / parts.max(1)).max(1), _run: PhantomData }
    }

    /// `f` on every item of `work`: on a team of more than one thread cut
    /// in halves into about four runs a thread, each in order, every run
    /// tried and the first run's error (in item order) returned; on a team
    /// of one, in order, the first error stopping the rest.
    pub(crate) fn try_for_each<S: Split, E: Send>(
        &self,
        work: S,
        f: impl Fn(S::Item) -> std::result::Result<(), E> + Sync,
    ) -> std::result::Result<(), E> {
        if self.threads > 1 {
            join::halves(work, 4 * self.threads, &f)
        } else {
            work.items().try_for_each(f)
        }
    }

    /// [`try_for_each`](Self::try_for_each) for work that cannot fail.
    pub(crate) fn for_each<S: Split>(&self, work: S, f: impl Fn(S::Item) + Sync) {
        let r = self.try_for_each(work, |item| {
            f(item);
            Ok::<(), std::convert::Infallible>(())
        });
        match r {
            Ok(()) => {}
            Err(never) => match never {},
        }
    }
}

/// A pool of threads (none of its own for one thread) and the rule for
/// when work splits across it.
pub(crate) struct Pool {
    threads: usize,
    /// The pool's threads; `None` for one thread, and while
    /// [`stay`](Self::stay) runs on one of them.
    inner: Option<pool::Threads>,
    /// Inside [`stay`](Self::stay): the caller is a thread of this pool.
    staying: bool,
    /// Work below this runs on one thread.
    min_flops: f64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("threads", &self.threads).field("min_flops", &self.min_flops).finish()
    }
}

impl Pool {
    /// A pool of `threads` ≥ 1 threads (one: no threads of its own) that
    /// splits work of at least `min_flops` floating-point operations.
    pub(crate) fn new(threads: usize, min_flops: f64) -> Result<Pool> {
        let threads = threads.max(1);
        let inner = if threads > 1 { Some(pool::Threads::new(threads)?) } else { None };
        Ok(Pool { threads, inner, staying: false, min_flops })
    }

    /// Threads of the pool.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Whether work of `flops` floating-point operations splits across the
    /// pool.
    pub(crate) fn splits(&self, flops: f64) -> bool {
        self.threads > 1 && flops >= self.min_flops
    }

    /// `f(team)` for work of `flops` floating-point operations: on a pool
    /// thread with a team of every thread when the work
    /// [`splits`](Self::splits), else right here with a team of one. A
    /// panic in `f` resumes here.
    pub(crate) fn run<R: Send>(&mut self, flops: f64, f: impl for<'t> FnOnce(Team<'t>) -> R + Send) -> R {
        if !self.splits(flops) {
            return f(Team::alone());
        }
        let team = Team { threads: self.threads, _run: PhantomData };
        match &mut self.inner {
            Some(threads) => threads.run(move || f(team)),
            // Staying: the caller is a thread of this pool already.
            None => f(team),
        }
    }

    /// `f(owner)` on a thread of the pool `pool(owner)`, the pool's other
    /// threads looking for work, spinning, instead of sleeping between the
    /// parallel parts of what `f` runs (for up to a millisecond at a time
    /// without any): for a loop of many small steps. Inside, the pool's
    /// [`run`](Self::run) calls its closure where it is, with no hand-over.
    /// With one thread, or inside `stay` already, `f` simply runs here. A
    /// panic in `f` resumes here, with the pool whole.
    pub(crate) fn stay<S: Send + ?Sized, R: Send>(
        owner: &mut S,
        pool: impl Fn(&mut S) -> &mut Pool,
        f: impl FnOnce(&mut S) -> R + Send,
    ) -> R {
        let Some(mut threads) = pool(owner).inner.take() else {
            return f(owner);
        };
        pool(owner).staying = true;
        let out = panic::catch_unwind(AssertUnwindSafe(|| threads.run(|| join::keep_awake(|| f(&mut *owner)))));
        let p = pool(owner);
        (p.inner, p.staying) = (Some(threads), false);
        out.unwrap_or_else(|e| panic::resume_unwind(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Visits `len` items in chunks of 7 on `team`; checks each item is
    /// visited once, with its own chunk of each zipped part, and that
    /// padded chunks are empty.
    fn visit(team: Team<'_>, len: usize) {
        let mut out = vec![0u32; len];
        let src: Vec<u32> = (0..len as u32).collect();
        let mut slot: Vec<u32> = Vec::new();
        let n = len.div_ceil(7);
        let seen = Mutex::new(Vec::new());
        let work = (0..n, ((ChunksMut::new(&mut out, 7), Chunks::new(&src, 7)), ChunksMut::padded(&mut slot, 7, n)));
        team.for_each(work, |(i, ((o, s), e))| {
            assert!(e.is_empty());
            assert_eq!(o.len(), s.len());
            for (o, s) in o.iter_mut().zip(s) {
                *o = s * 2 + 1;
            }
            seen.lock().unwrap().push(i);
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{} threads, len {len}", team.threads());
        assert!(out.iter().zip(&src).all(|(o, s)| *o == s * 2 + 1));
    }

    #[test]
    fn try_for_each_visits_each_item_once_with_its_chunks() {
        for threads in [1, 2, 3] {
            let mut pool = Pool::new(threads, 0.0).unwrap();
            for len in [0usize, 1, 5, 31, 64, 100] {
                pool.run(1.0, |team| visit(team, len));
                visit(Team::alone(), len);
            }
        }
    }

    /// Work below the pool's threshold runs on a team of one, on the
    /// calling thread; work above it on every thread, on a pool thread.
    #[test]
    fn run_splits_only_work_worth_it() {
        let mut pool = Pool::new(2, 100.0).unwrap();
        let here = std::thread::current().id();
        let (threads, id) = pool.run(99.0, |team| (team.threads(), std::thread::current().id()));
        assert_eq!((threads, id), (1, here));
        let (threads, name) =
            pool.run(100.0, |team| (team.threads(), std::thread::current().name().map(str::to_owned)));
        assert_eq!(threads, 2);
        assert!(name.is_some_and(|n| n.starts_with("backprop-")));
        assert_eq!(Pool::new(1, 0.0).unwrap().run(1e12, |team| team.threads()), 1);
    }

    /// The first error in item order comes back, whichever run fails first.
    #[test]
    fn try_for_each_returns_the_first_error() {
        for threads in [1, 2] {
            let mut v: Vec<usize> = (0..40).collect();
            let r = Pool::new(threads, 0.0)
                .unwrap()
                .run(1.0, |team| team.try_for_each(&mut v[..], |x| if *x % 10 == 7 { Err(*x) } else { Ok(()) }));
            assert_eq!(r, Err(7), "threads {threads}");
        }
    }

    /// A panic in an item resumes in the caller, and nothing hangs: the
    /// waiting half of the join it ran in is told the other is done by
    /// unwinding too.
    #[test]
    fn a_panic_in_an_item_resumes_in_the_caller() {
        let mut p = Pool::new(2, 0.0).unwrap();
        for which in [0, 1, 63] {
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                p.run(1.0, |team| team.for_each(0..64, |i| assert_ne!(i, which)))
            }));
            assert!(r.is_err(), "item {which}");
        }
        let sum = AtomicUsize::new(0);
        p.run(1.0, |team| {
            team.for_each(0..64, |i| {
                sum.fetch_add(i, Ordering::Relaxed);
            })
        });
        assert_eq!(sum.into_inner(), 63 * 64 / 2);
    }

    /// `stay` gives back `f`'s result with the work `f` splits done once
    /// per item, runs inside on a pool thread with no hand-over, ends its
    /// watches (the scope returns), and passes a panic in `f` on with the
    /// pool whole; a pool of one just runs `f`.
    #[test]
    fn stay_runs_f_on_the_pool_and_ends_its_watches() {
        let mut p = Pool::new(3, 0.0).unwrap();
        let sum = AtomicUsize::new(0);
        let r = Pool::stay(
            &mut p,
            |p| p,
            |p| {
                assert!(std::thread::current().name().is_some_and(|n| n.starts_with("backprop-")));
                for _ in 0..50 {
                    p.run(1.0, |team| {
                        assert_eq!(team.threads(), 3);
                        team.for_each(0..64, |i| {
                            sum.fetch_add(i, Ordering::Relaxed);
                        })
                    });
                }
                42
            },
        );
        assert_eq!((r, sum.load(Ordering::Relaxed)), (42, 50 * (63 * 64 / 2)));
        let panicked =
            panic::catch_unwind(AssertUnwindSafe(|| Pool::stay(&mut p, |p| p, |_| -> () { panic!("in f") })));
        assert!(panicked.is_err());
        assert!(p.run(1.0, |_| std::thread::current().name().is_some_and(|n| n.starts_with("backprop-"))));
        let mut one = Pool::new(1, 0.0).unwrap();
        assert_eq!(Pool::stay(&mut one, |p| p, |_| 8), 8);
    }
}
