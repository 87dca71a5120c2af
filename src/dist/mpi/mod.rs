//! MPI (the `mpi` feature, rsmpi over the system's MPI library): the
//! [`Collective`] of a run started by `mpirun`.
//!
//! ```no_run
//! # fn main() -> backprop::Result<()> {
//! use backprop::dist::mpi::Mpi;
//! let mpi = Mpi::init()?;               // once, on the main thread
//! let comm = mpi.world();
//! # let (mlp, config) = (backprop::Mlp::builder().input(2).head(backprop::Head::Softmax, 2).build()?, backprop::TrainConfig::default());
//! let mut trainer = backprop::Trainer::new(mlp, config)?;
//! trainer.distribute(Box::new(comm))?;  // every rank: same data, same batches
//! # Ok(()) }
//! ```

use super::Collective;
use crate::error::{Error, Result};
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The most elements one MPI call moves (MPI counts are `int`).
const MAX_COUNT: usize = 1 << 30;

/// The longest a rank waits for another's message or broadcast before it
/// gives up with an error (and ends the run).
const DEADLINE: Duration = Duration::from_secs(600);

/// MPI while it is initialised (dropping the universe is `MPI_Finalize`).
struct State {
    _universe: Universe,
}

type Shared = Arc<RwLock<Option<State>>>;

/// MPI, initialised: finalised when this is dropped, on the thread that
/// made it (it is not `Send`), once every call through a [`MpiComm`] has
/// returned; calls after that are errors.
pub struct Mpi {
    universe: Shared,
    _main_thread: PhantomData<*const ()>,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi").finish_non_exhaustive()
    }
}

impl Mpi {
    /// Initialises MPI with `MPI_THREAD_MULTIPLE` (so that a [`MpiComm`] may
    /// be used from any thread); an error when MPI is already initialised
    /// or the library cannot give that level.
    pub fn init() -> Result<Mpi> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or_else(|| Error::collective(0, "MPI was already initialised"))?;
        let state = State { _universe: universe };
        let mpi = Mpi { universe: Arc::new(RwLock::new(Some(state))), _main_thread: PhantomData };
        if level < Threading::Multiple {
            return Err(Error::collective(
                mpi.world().rank,
                format!("the MPI library gives thread level {level:?}, and backprop needs Multiple"),
            ));
        }
        Ok(mpi)
    }

    /// Whether this process was started by an MPI launcher (`mpirun`,
    /// `mpiexec`, `srun`): it has the environment Open MPI, MPICH or PMIx
    /// give their ranks.
    pub fn launched() -> bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    }

    /// The ranks of this process on its machine, from the launcher's
    /// environment (1 when it does not say).
    pub fn local_ranks() -> usize {
        ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse().ok())
            .unwrap_or(1)
    }

    /// Every process of the run (`MPI_COMM_WORLD`).
    pub fn world(&self) -> MpiComm {
        let w = SimpleCommunicator::world();
        MpiComm { universe: Arc::clone(&self.universe), rank: w.rank() as usize, size: w.size() as usize }
    }
}

impl Drop for Mpi {
    fn drop(&mut self) {
        // Waits for calls in flight; the Universe's drop is MPI_Finalize.
        let mut u = self.universe.write().unwrap_or_else(|e| e.into_inner());
        drop(u.take());
    }
}

/// `MPI_COMM_WORLD` as a [`Collective`]: blocking point-to-point messages
/// and broadcasts of `MPI_FLOAT` / `MPI_BYTE`.
#[derive(Clone)]
pub struct MpiComm {
    universe: Shared,
    rank: usize,
    size: usize,
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm").field("rank", &self.rank).field("size", &self.size).finish()
    }
}

impl MpiComm {
    /// The world communicator, while MPI is initialised.
    fn world(&self) -> Result<(RwLockReadGuard<'_, Option<State>>, SimpleCommunicator)> {
        let guard = self.universe.read().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(_) => Ok((guard, SimpleCommunicator::world())),
            None => Err(Error::collective(self.rank, "MPI has been finalised")),
        }
    }

    fn peer(&self, q: usize) -> Result<i32> {
        if q >= self.size {
            return Err(Error::collective(self.rank, format!("no rank {q} among {}", self.size)));
        }
        Ok(q as i32)
    }

    /// One message of at most `MAX_COUNT` values from rank `from` into
    /// `data`, which it must fill exactly, within [`DEADLINE`].
    fn receive_from(&self, w: &SimpleCommunicator, from: i32, data: &mut [f32]) -> Result<()> {
        let len = data.len();
        let status = mpi::request::scope(|scope| {
            let req = w.process_at_rank(from).immediate_receive_into(scope, &mut *data);
            self.finish(req, &format!("rank {from} sent nothing"))
        })?;
        let got = status.count(f32::equivalent_datatype()) as usize;
        if got != len {
            return Err(Error::collective(self.rank, format!("rank {from} sent {got} values, {len} expected")));
        }
        Ok(())
    }

    /// Waits for `req` (testing it, and yielding the core between tests);
    /// after [`DEADLINE`], cancels it and says `what` as an error.
    fn finish<'a, D: ?Sized, S: mpi::request::Scope<'a>>(
        &self,
        mut req: mpi::request::Request<'a, D, S>,
        what: &str,
    ) -> Result<mpi::point_to_point::Status> {
        let start = Instant::now();
        loop {
            match req.test() {
                Ok(status) => return Ok(status),
                Err(r) => req = r,
            }
            if start.elapsed() > DEADLINE {
                req.cancel();
                req.wait_without_status();
                return Err(Error::collective(self.rank, format!("{what} for {DEADLINE:?}")));
            }
            std::thread::yield_now();
        }
    }

    /// [`Collective::broadcast`] of any MPI type, each message within
    /// [`DEADLINE`].
    fn broadcast_any<T: Equivalence>(&self, root: usize, data: &mut [T]) -> Result<()> {
        let (_g, w) = self.world()?;
        let p = w.process_at_rank(self.peer(root)?);
        let what = format!("the broadcast from rank {root} did not end");
        data.chunks_mut(MAX_COUNT).try_for_each(|c| {
            mpi::request::scope(|scope| self.finish(p.immediate_broadcast_into(scope, c), &what)).map(drop)
        })
    }

    /// Ends every rank of the run (`MPI_Abort`) with exit status `code`:
    /// for a failure one rank alone sees, which would leave the others
    /// waiting on it.
    pub fn end_run(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }
}

impl Collective for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn send(&self, to: usize, data: &[f32]) -> Result<()> {
        let (_g, w) = self.world()?;
        let p = w.process_at_rank(self.peer(to)?);
        data.chunks(MAX_COUNT).for_each(|c| p.send(c));
        Ok(())
    }

    fn receive(&self, from: usize, data: &mut [f32]) -> Result<()> {
        let (_g, w) = self.world()?;
        let from = self.peer(from)?;
        data.chunks_mut(MAX_COUNT).try_for_each(|c| self.receive_from(&w, from, c))
    }

    fn broadcast(&self, root: usize, data: &mut [f32]) -> Result<()> {
        self.broadcast_any(root, data)
    }

    fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> Result<()> {
        self.broadcast_any(root, bytes)
    }

    /// Prints `error: rank R: why` and ends every rank of the run
    /// (`MPI_Abort`, exit status 1): MPI has no way to tell one rank's
    /// waits that another has failed.
    fn abort(&self, why: &str) {
        eprintln!("error: rank {}: {why}", self.rank);
        self.end_run(1)
    }
}
