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

mod window;

use super::{Chain, ChainWork, Collective, FinishedWork, Pairing, RelayWork};
use crate::error::{Error, Result};
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use window::Window;

/// The most elements one MPI call moves (MPI counts are `int`).
const MAX_COUNT: usize = 1 << 30;

/// MPI while it is initialised: the window of the ranks' shared memory
/// (when [`Collective::reserve`] made one) is freed before the universe is
/// dropped (`MPI_Finalize`), fields dropping in order.
struct State {
    window: Mutex<Option<Window>>,
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
        let state = State { window: Mutex::new(None), _universe: universe };
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
        // Waits for calls in flight; the window is freed, then the
        // Universe's drop is MPI_Finalize.
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
    /// `data`, which it must fill exactly.
    fn receive_from(&self, w: &SimpleCommunicator, from: i32, data: &mut [f32]) -> Result<()> {
        let got = w.process_at_rank(from).receive_into(&mut *data).count(f32::equivalent_datatype()) as usize;
        if got != data.len() {
            let msg = format!("rank {from} sent {got} values, {} expected", data.len());
            return Err(Error::collective(self.rank, msg));
        }
        Ok(())
    }

    /// [`Collective::relay`] by messages. The sends are non-blocking
    /// (`MPI_Isend`) and all in flight until the end: part `i` goes out
    /// while the parts after it are worked on, so a rank never waits for
    /// the next one to be ready to receive (with one send in flight at a
    /// time, L's chain took 10 ms a step instead of 7.3, as a rank kept pace
    /// with the slower next one).
    fn relay_messages(
        &self,
        w: &SimpleCommunicator,
        (from, to): (Option<i32>, Option<i32>),
        parts: Vec<&mut [f32]>,
        work: &mut RelayWork<'_>,
    ) -> Result<()> {
        mpi::request::multiple_scope(parts.len(), |scope, sends| {
            let done = super::relay_parts(
                parts,
                work,
                |_, part| from.map_or(Ok(()), |p| self.receive_from(w, p, part)),
                |_, part| {
                    if let Some(n) = to {
                        sends.add(w.process_at_rank(n).immediate_send(scope, part));
                    }
                    Ok(())
                },
            );
            let mut finished = Vec::new();
            sends.wait_all(&mut finished);
            done
        })
    }

    /// Ends every rank of the run (`MPI_Abort`) with exit status `code`:
    /// for a failure one rank alone sees, which would leave the others
    /// waiting on it.
    pub fn abort(&self, code: i32) -> ! {
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
        let (_g, w) = self.world()?;
        let p = w.process_at_rank(self.peer(root)?);
        data.chunks_mut(MAX_COUNT).for_each(|c| p.broadcast_into(c));
        Ok(())
    }

    /// By messages; the list of the parts' slices (and the messages'
    /// request list) are the allocations of a distributed step.
    fn relay(
        &self,
        prev: Option<usize>,
        next: Option<usize>,
        data: &mut [f32],
        parts: &[Range<usize>],
        work: &mut RelayWork<'_>,
    ) -> Result<()> {
        let (_g, w) = self.world()?;
        let from = prev.map(|p| self.peer(p)).transpose()?;
        let to = next.map(|n| self.peer(n)).transpose()?;
        if let Some(r) = parts.iter().find(|r| r.len() > MAX_COUNT) {
            return Err(Error::collective(self.rank, format!("relay part {r:?} is more than one message holds")));
        }
        let slices = super::split_parts(self.rank, data, parts)?;
        self.relay_messages(&w, (from, to), slices, work)
    }

    /// In the shared window when [`reserve`](Self::reserve) made one large
    /// enough, else by messages (two relays).
    fn chain(&self, chain: Chain, data: &mut [f32], parts: &[Range<usize>], work: &mut RelayWork<'_>) -> Result<()> {
        self.chain_in(chain, (data, parts), None, &mut |i, g| work(i, g.map(|(g, _)| g)), None)
    }

    /// In the shared window, following `pairing`, each finished part handed
    /// to `then` where it lies there, when [`reserve`](Self::reserve) made
    /// one large enough; else by messages, in rank order.
    fn chain_then(
        &self,
        chain: Chain,
        (data, parts): (&mut [f32], &[Range<usize>]),
        pairing: Option<Pairing<'_>>,
        work: &mut ChainWork<'_>,
        then: &mut FinishedWork<'_>,
    ) -> Result<()> {
        self.chain_in(chain, (data, parts), pairing, work, Some(then))
    }

    /// Collective: when every rank runs on one machine (and
    /// `BACKPROP_MPI_SHARED_MEMORY=0` is not set on rank 0), a window of
    /// shared memory holding `floats` values, in which chains of up to that
    /// many values then make their sums instead of going by messages.
    fn reserve(&self, floats: usize) -> Result<()> {
        let mut wanted = [u8::from(std::env::var_os("BACKPROP_MPI_SHARED_MEMORY").is_none_or(|v| v != "0"))];
        self.broadcast_bytes(0, &mut wanted)?;
        let (g, _w) = self.world()?;
        let state = g.as_ref().expect("world() checked MPI is initialised");
        let mut window = state.window.lock().unwrap_or_else(|e| e.into_inner());
        if wanted[0] == 0 || window.as_ref().is_some_and(|w| w.floats() >= floats) {
            return Ok(());
        }
        *window = None;
        *window = Window::new(self.rank, self.size, floats)?;
        Ok(())
    }

    fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> Result<()> {
        let (_g, w) = self.world()?;
        let p = w.process_at_rank(self.peer(root)?);
        bytes.chunks_mut(MAX_COUNT).for_each(|c| p.broadcast_into(c));
        Ok(())
    }
}

impl MpiComm {
    /// [`Collective::chain`] in the shared window when there is one large
    /// enough, else by messages; with `then`, [`Collective::chain_then`].
    fn chain_in(
        &self,
        chain: Chain,
        (data, parts): (&mut [f32], &[Range<usize>]),
        pairing: Option<Pairing<'_>>,
        work: &mut ChainWork<'_>,
        then: Option<&mut FinishedWork<'_>>,
    ) -> Result<()> {
        let (g, _w) = self.world()?;
        let state = g.as_ref().expect("world() checked MPI is initialised");
        let window = state.window.lock().unwrap_or_else(|e| e.into_inner());
        match window.as_ref() {
            Some(win) if data.len() <= win.floats() && parts.len() <= window::RING => {
                let slices = super::split_parts(self.rank, data, parts)?;
                win.chain(chain, (slices, parts), pairing, work, then)
            }
            _ => {
                drop(window);
                drop(g);
                super::chain_by_relays(self, chain, data, parts, &mut super::in_rank_order(chain, work))?;
                then.map_or(Ok(()), |then| super::finish_parts(self.rank, data, parts, then))
            }
        }
    }
}
