//! The processes of a run: this one alone, or, in a build with the `mpi`
//! feature started by `mpirun`, every rank of the MPI world. Rank 0 alone
//! writes files and prints; every decision that could end a run is agreed
//! between the ranks first, so that a failure on one rank ends them all
//! with the same one-line error instead of leaving the others waiting.

use crate::Failure;
use backprop::dist::Collective;
use std::hash::{DefaultHasher, Hash, Hasher};

/// This process's place among the ranks of the run.
pub struct World {
    /// `None` for a single process.
    comm: Option<Box<dyn Collective>>,
    /// Another handle on the same ranks, for the trainer.
    handle: Box<dyn Fn() -> Box<dyn Collective>>,
    /// Ends every rank (MPI_Abort) after a failure this rank alone saw.
    abort: Box<dyn Fn(u8)>,
}

impl World {
    /// One process.
    pub fn single() -> World {
        World {
            comm: None,
            handle: Box::new(|| unreachable!("a single process has no ranks")),
            abort: Box::new(|_| {}),
        }
    }

    /// Every rank of the MPI world.
    #[cfg(feature = "mpi")]
    pub fn mpi(mpi: &backprop::dist::mpi::Mpi) -> World {
        let comm = mpi.world();
        let (for_trainer, for_abort) = (comm.clone(), comm.clone());
        World {
            comm: Some(Box::new(comm)),
            handle: Box::new(move || Box::new(for_trainer.clone())),
            abort: Box::new(move |code| for_abort.end_run(i32::from(code))),
        }
    }

    pub fn rank(&self) -> usize {
        self.comm.as_ref().map_or(0, |c| c.rank())
    }

    pub fn size(&self) -> usize {
        self.comm.as_ref().map_or(1, |c| c.size())
    }

    /// Threads per rank when `--threads` is not given: the machine's cores
    /// shared between the ranks on it (`None`, every core, alone).
    pub fn threads_per_rank(&self) -> Option<usize> {
        self.comm.as_ref()?;
        #[cfg(feature = "mpi")]
        {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Some((cores / backprop::dist::mpi::Mpi::local_ranks().max(1)).max(1))
        }
        #[cfg(not(feature = "mpi"))]
        None
    }

    /// Whether this rank writes the run's files and prints its lines.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The communicator a trainer of this run is handed (`None` alone).
    pub fn for_trainer(&self) -> Option<Box<dyn Collective>> {
        self.comm.as_ref().filter(|c| c.size() > 1).map(|_| (self.handle)())
    }

    /// Ends every rank after `f`, a failure that only this rank may have
    /// seen (the others could be waiting for it); a single process just
    /// returns it.
    pub fn end(&self, f: Failure) -> Failure {
        if self.comm.is_none() || f.shared {
            return f;
        }
        let f = Failure { msg: format!("rank {}: {}", self.rank(), f.msg), ..f };
        f.print();
        (self.abort)(f.code);
        Failure { msg: String::new(), ..f }
    }

    /// Prints a failure every rank has, then waits until every rank has
    /// printed its line (mpirun ends the others as soon as one rank exits
    /// with an error, which could cut their lines off); returns the exit
    /// code with nothing left to print.
    pub fn said(&self, f: Failure) -> Failure {
        let Some(c) = self.comm.as_ref().filter(|_| f.shared) else { return f };
        f.print();
        let _ = c.broadcast_bytes(0, &mut [0]);
        Failure { msg: String::new(), ..f }
    }

    /// `local` on every rank when it is `Ok` on every rank; otherwise, on
    /// every rank, the failure of the lowest rank that failed, naming it.
    pub fn agree<T>(&self, local: Result<T, Failure>) -> Result<T, Failure> {
        let Some(c) = &self.comm else { return local };
        let fail = |e: backprop::Error| Failure::from(e).shared();
        let mut first = None;
        for q in 0..c.size() {
            let mut failed = [u8::from(q == c.rank() && local.is_err())];
            c.broadcast_bytes(q, &mut failed).map_err(fail)?;
            if failed[0] == 1 && first.is_none() {
                first = Some(q);
            }
        }
        let Some(q) = first else { return local };
        let (code, msg) = match &local {
            Err(f) if q == c.rank() => (f.code, f.msg.as_bytes().to_vec()),
            _ => (0, Vec::new()),
        };
        let mut head = [code, 0, 0, 0, 0, 0, 0, 0, 0];
        head[1..].copy_from_slice(&(msg.len() as u64).to_le_bytes());
        c.broadcast_bytes(q, &mut head).map_err(fail)?;
        let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes")) as usize;
        let mut text = if q == c.rank() { msg } else { vec![0; len] };
        c.broadcast_bytes(q, &mut text).map_err(fail)?;
        // Named once: an error between ranks names its rank already.
        let (text, own) = (String::from_utf8_lossy(&text), format!("rank {q}: "));
        let msg = if text.starts_with(&own) { text.into_owned() } else { format!("{own}{text}") };
        Err(Failure { code: head[0], msg, shared: true, plain: false })
    }

    /// A failure on every rank whose `what` (hashed) differs from rank 0's.
    pub fn same(&self, what: &str, value: &impl Hash) -> Result<(), Failure> {
        let Some(c) = &self.comm else { return Ok(()) };
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        let mine = h.finish().to_le_bytes();
        let mut root = mine;
        c.broadcast_bytes(0, &mut root).map_err(|e| Failure::from(e).shared())?;
        let local = if root == mine {
            Ok(())
        } else {
            Err(Failure::from(backprop::Error::config(what, "differ from rank 0's; every rank must run the same")))
        };
        self.agree(local)
    }

    /// The bytes `read` gives on rank 0 (which alone calls it), on every
    /// rank; or rank 0's failure on every rank.
    pub fn share(&self, read: impl FnOnce() -> Result<Vec<u8>, Failure>) -> Result<Vec<u8>, Failure> {
        let bytes = self.agree(if self.is_root() { read() } else { Ok(Vec::new()) })?;
        let Some(c) = &self.comm else { return Ok(bytes) };
        let fail = |e: backprop::Error| Failure::from(e).shared();
        let mut len = (bytes.len() as u64).to_le_bytes();
        c.broadcast_bytes(0, &mut len).map_err(fail)?;
        let mut all = if self.is_root() { bytes } else { vec![0; u64::from_le_bytes(len) as usize] };
        c.broadcast_bytes(0, &mut all).map_err(fail)?;
        Ok(all)
    }
}
