//! The pool's threads, entered without allocating.
//!
//! `ThreadPool::install` from a thread outside the pool pushes a job into
//! rayon's global injector queue, which allocates a new block every 63
//! pushes: a step would allocate now and then. Instead, one long-lived
//! driver job runs inside the pool for the pool's lifetime. [`Threads::run`]
//! hands it a closure through a mutex-guarded slot and waits for it to
//! finish; the closure runs on a pool thread, so the work it splits goes
//! through rayon's per-thread deques, which allocate nothing once warm.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

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

/// A rayon pool of `threads` ≥ 2 threads with a resident driver job.
pub(super) struct Threads {
    /// The pool (taken when dropped, before its threads are joined).
    pool: Option<rayon::ThreadPool>,
    shared: Arc<Shared>,
    /// The pool's threads, spawned here so that dropping the pool can join
    /// them.
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    /// A pool of `threads` threads, each started before this returns (a
    /// starting thread allocates, and no start-up may land inside a step).
    pub(super) fn new(threads: usize) -> Result<Threads> {
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
        pool.broadcast(|_| ());
        let driver = Arc::clone(&shared);
        pool.spawn(move || drive(&driver));
        Ok(Threads { pool: Some(pool), shared, handles })
    }

    /// Runs `f` on the driver's pool thread and returns its result once it
    /// has finished; a panic in `f` resumes here. `&mut self`: one caller
    /// at a time, so the slot holds at most one job.
    pub(super) fn run<R: Send, F: FnOnce() -> R + Send>(&mut self, f: F) -> R {
        let shared = &self.shared;
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

impl Drop for Threads {
    /// Ends the driver, then joins every pool thread, so that no thread of a
    /// dropped trainer or predictor lingers (or runs its exit, which
    /// allocates, while the program goes on).
    fn drop(&mut self) {
        *self.shared.lock() = Slot::Exit;
        self.shared.cv.notify_all();
        // The pool's threads end once it is dropped and the driver returns.
        drop(self.pool.take());
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
