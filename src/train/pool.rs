//! The trainer's own rayon thread pool, entered without allocating.
//!
//! `ThreadPool::install` from a thread outside the pool pushes a job into
//! rayon's global injector queue, which allocates a new block every 63
//! pushes: a step would allocate now and then. Instead, one long-lived driver
//! job runs inside the pool for the trainer's lifetime. [`Pool::run`] hands it
//! a closure through a mutex-guarded slot and waits for it to finish; the
//! closure runs on a pool thread, so its `par_iter`s split work across the
//! pool through rayon's per-thread deques, which allocate nothing once warm.
//! With one thread there is no pool at all: closures run on the caller, and
//! the code inside them must then use plain iterators, not `par_iter`
//! (which would reach for rayon's global pool): [`Pool::parallel`] says
//! which.
//!
//! A caller that takes many steps may run them all inside the pool
//! ([`Pool::stand_in`], `Trainer::within`): the trainer's own pool is then
//! lent to a stand-in that runs each closure where it is called (already on
//! a pool thread), so no step hands over to the driver and back (10-12 µs
//! each way here, and the pool's other threads fall asleep in between: a
//! `rayon::join` that wakes one costs about 30 µs more than one that finds
//! it spinning). There, [`crate::par::keep_awake`] keeps the other threads
//! looking for work between the steps' parallel parts.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::kernels::gemm::GemmScratch;
use crate::mem::vec_of;

/// A closure to run, its lifetime erased (see the SAFETY notes in `run`).
struct JobPtr(*mut (dyn FnMut() + Send + 'static));

// SAFETY: the pointee is `Send`, so it may be called on the driver's thread;
// `run` keeps it alive, and does not touch it, until the driver reports done.
unsafe impl Send for JobPtr {}

enum Slot {
    Idle,
    Job(JobPtr),
    Running,
    Done(Option<Box<dyn Any + Send>>),
    Exit,
}

struct Shared {
    slot: Mutex<Slot>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // The slot holds plain data; a panic while it was held (there is no
        // code that can panic there) would leave it consistent.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A rayon pool of `threads` threads with a resident driver job, or no pool
/// at all for one thread.
pub(crate) struct Pool {
    threads: usize,
    inner: Option<(rayon::ThreadPool, Arc<Shared>)>,
    /// The pool's threads, spawned here so that dropping the pool can join
    /// them.
    handles: Vec<std::thread::JoinHandle<()>>,
    /// A stand-in for a pool that is running the caller itself: closures
    /// run where they are called, on that pool's thread.
    entered: bool,
}

impl Pool {
    /// A pool of `threads` ≥ 1 threads.
    pub(crate) fn new(threads: usize) -> Result<Pool> {
        if threads <= 1 {
            return Ok(Pool { threads: 1, inner: None, handles: Vec::new(), entered: false });
        }
        let shared = Arc::new(Shared { slot: Mutex::new(Slot::Idle), cv: Condvar::new() });
        let mut handles = Vec::new();
        crate::mem::reserve(&mut handles, threads, "thread handles")?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .spawn_handler(|t| {
                let b = std::thread::Builder::new().name(format!("backprop-{}", t.index()));
                handles.push(b.spawn(|| t.run())?);
                Ok(())
            })
            .build()
            .map_err(|e| Error::config("threads", format!("cannot start {threads} threads: {e}")))?;
        // Wait until every thread has started (a starting thread allocates),
        // so that no start-up lands inside a later step.
        pool.broadcast(|_| ());
        let driver = Arc::clone(&shared);
        pool.spawn(move || drive(&driver));
        Ok(Pool { threads, inner: Some((pool, shared)), handles, entered: false })
    }

    /// Number of threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Whether closures given to [`run`](Self::run) execute on a pool thread,
    /// where `par_iter` spreads work across the pool; when false they run on
    /// the caller and must iterate sequentially.
    pub(crate) fn parallel(&self) -> bool {
        self.inner.is_some() || self.entered
    }

    /// What stands in for this pool while it runs a closure that uses the
    /// pool's owner: a pool of as many threads whose [`run`](Self::run)
    /// calls the closure where it is (on this pool's thread, inside the
    /// closure this pool runs). `None` when there is nothing to enter: one
    /// thread, or a stand-in already.
    pub(crate) fn stand_in(&self) -> Option<Pool> {
        let threads = self.threads;
        (self.inner.is_some()).then(|| Pool { threads, inner: None, handles: Vec::new(), entered: true })
    }

    /// Runs `f` inside the pool when `par`, else right here on the calling
    /// thread (so `f` must then iterate sequentially).
    pub(crate) fn run_if<R: Send, F: FnOnce() -> R + Send>(&mut self, par: bool, f: F) -> R {
        if par && !self.entered {
            self.run(f)
        } else {
            f()
        }
    }

    /// Runs `f` inside the pool (or on this thread when there is none) and
    /// returns its result once it has finished; a panic in `f` resumes here.
    /// `&mut self`: one caller at a time, so the slot holds at most one job.
    pub(crate) fn run<R: Send, F: FnOnce() -> R + Send>(&mut self, f: F) -> R {
        let Some((_, shared)) = &self.inner else {
            return f();
        };
        let mut f = Some(f);
        let mut out = None;
        let mut call = || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        };
        let job: &mut (dyn FnMut() + Send + '_) = &mut call;
        // SAFETY: only the lifetime is changed. The driver calls the pointer
        // only between taking it from `Slot::Job` and storing `Slot::Done`;
        // this function neither returns nor unwinds (nothing below can
        // panic) before it has seen `Slot::Done`, and `&mut self` keeps any
        // other caller from replacing the job meanwhile, so `call` and
        // everything it borrows outlive every use, and nothing else touches
        // them.
        let ptr = JobPtr(unsafe {
            std::mem::transmute::<*mut (dyn FnMut() + Send + '_), *mut (dyn FnMut() + Send + 'static)>(job)
        });
        let mut slot = shared.lock();
        *slot = Slot::Job(ptr);
        shared.cv.notify_all();
        let payload = loop {
            if let Slot::Done(p) = &mut *slot {
                let p = p.take();
                *slot = Slot::Idle;
                break p;
            }
            slot = shared.cv.wait(slot).unwrap_or_else(|e| e.into_inner());
        };
        drop(slot);
        if let Some(p) = payload {
            panic::resume_unwind(p);
        }
        out.expect("the driver ran the job to completion")
    }
}

/// The driver: waits for jobs and runs them on its pool thread until told to
/// exit.
fn drive(shared: &Shared) {
    let mut slot = shared.lock();
    loop {
        match std::mem::replace(&mut *slot, Slot::Running) {
            Slot::Job(JobPtr(f)) => {
                drop(slot);
                // SAFETY: `run` keeps the closure alive, and leaves it to
                // this thread alone, until it sees Done.
                let r = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*f)() }));
                slot = shared.lock();
                *slot = Slot::Done(r.err());
                shared.cv.notify_all();
            }
            Slot::Exit => return,
            other => {
                *slot = other;
                slot = shared.cv.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

impl Drop for Pool {
    /// Ends the driver, then joins every pool thread, so that no thread of a
    /// dropped trainer or predictor lingers (or runs its exit, which
    /// allocates, while the program goes on).
    fn drop(&mut self) {
        let Some((pool, shared)) = self.inner.take() else { return };
        *shared.lock() = Slot::Exit;
        shared.cv.notify_all();
        drop(pool);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// GEMM packing space, one per pool thread: a GEMM call on a pool thread
/// borrows that thread's (calls never nest, so the lock is never contended).
pub(crate) struct ScratchPool(Vec<Mutex<GemmScratch>>);

impl ScratchPool {
    pub(crate) fn new(threads: usize) -> Result<Self> {
        vec_of(threads.max(1), "GEMM scratch", || Ok(Mutex::new(GemmScratch::full()?))).map(ScratchPool)
    }

    /// Runs `f` with the calling thread's scratch.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut GemmScratch) -> R) -> R {
        let i = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        let mut s = self.0[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }
}
