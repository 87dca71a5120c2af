//! Data-parallel training across processes: the [`Collective`] a
//! [`Trainer`](crate::Trainer) is [distributed](crate::Trainer::distribute)
//! over.
//!
//! Every rank holds the whole batch (each reads the data and derives the row
//! order from the seed) and computes forward and backward for its own
//! contiguous run of the batch's rows, rank `q` of `P` rows
//! `[q·B/P, (q+1)·B/P)`. Each value of the gradient is one chain over the
//! batch's rows in order, so the ranks make it as a chain too:
//!
//! ```text
//! rank 0 sums its rows' terms into a segment of the gradient and sends it to rank 1,
//! which continues each value's chain over its rows, … ; the last rank's finished
//! gradient is then broadcast to every rank
//! ```
//!
//! segment by segment, so that rank `q+1` works on segment `c` while rank
//! `q` computes segment `c+1`. The weights are then bit-identical to one
//! process's with the same settings, for any number of ranks and threads.
//! A reduction MPI chooses for itself (`MPI_Allreduce`) would not do: the
//! standard leaves the bracketing of its sums to the implementation, so
//! the bits could change with the number of ranks (open-mpi/ompi#12258).
//!
//! Implementations: [`Local`] (ranks as threads of one process) and, with
//! the `mpi` feature, `mpi::MpiComm` over MPI's messages.

mod local;
#[cfg(feature = "mpi")]
pub mod mpi;

pub use local::Local;

use crate::error::Result;

/// The processes of one data-parallel run, as the trainer uses them: plain
/// copies of values between ranks, never arithmetic on them. Every rank
/// must make the same calls in the same order (as MPI requires).
pub trait Collective: Send {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Sends `data` to rank `to`; `data` may be reused when it returns.
    fn send(&self, to: usize, data: &[f32]) -> Result<()>;
    /// Receives into `data` what rank `from` sent (of the same length): an
    /// error naming `from` when it has failed or ended, or sends nothing
    /// for as long as the implementation waits.
    fn receive(&self, from: usize, data: &mut [f32]) -> Result<()>;
    /// Copies `data` of rank `root` into `data` of every other rank.
    fn broadcast(&self, root: usize, data: &mut [f32]) -> Result<()>;
    /// Copies `bytes` of rank `root` into `bytes` of every other rank (all
    /// of the same length).
    fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> Result<()>;
    /// Tells the other ranks that this one has failed with `why` in the
    /// middle of a step: their waits on it end with an error naming it
    /// (MPI: `MPI_Abort` ends the run).
    fn abort(&self, why: &str);
}
