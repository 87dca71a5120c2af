//! Ranks as threads of one process: a [`Collective`] over channels, to run
//! and test a data-parallel setup without MPI.

use super::Collective;
use crate::error::{Error, Result};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a waiting rank looks whether another has failed.
const POLL: Duration = Duration::from_millis(5);

/// The first rank of a group that failed, and why.
type Failed = Arc<Mutex<Option<(usize, String)>>>;

/// One rank of a group made by [`Local::group`]: messages between two ranks
/// go through a channel of their own, in the order they were sent. Each
/// message is a new buffer (this is for tests and trials, not for speed).
/// A wait ends with an error when the rank waited on has ended or
/// [aborted](Collective::abort), or after the group's deadline.
#[derive(Debug)]
pub struct Local {
    rank: usize,
    /// `to[q]`: the channel to rank `q` (none to itself).
    to: Vec<Option<Sender<Vec<u8>>>>,
    /// `from[q]`: the channel from rank `q`.
    from: Vec<Option<Receiver<Vec<u8>>>>,
    failed: Failed,
    deadline: Duration,
}

impl Local {
    /// `ranks` connected ranks, in rank order, whose waits last at most ten
    /// minutes; hand one to each thread.
    pub fn group(ranks: usize) -> Vec<Local> {
        Local::group_with_deadline(ranks, Duration::from_secs(600))
    }

    /// [`group`](Self::group), with waits of at most `deadline`.
    pub fn group_with_deadline(ranks: usize, deadline: Duration) -> Vec<Local> {
        let mut to: Vec<Vec<Option<Sender<Vec<u8>>>>> =
            (0..ranks).map(|_| (0..ranks).map(|_| None).collect()).collect();
        let mut from: Vec<Vec<Option<Receiver<Vec<u8>>>>> =
            (0..ranks).map(|_| (0..ranks).map(|_| None).collect()).collect();
        for a in 0..ranks {
            for b in (0..ranks).filter(|&b| b != a) {
                let (tx, rx) = channel();
                to[a][b] = Some(tx);
                from[b][a] = Some(rx);
            }
        }
        let failed = Failed::default();
        let rank = |(rank, (to, from))| Local { rank, to, from, failed: Arc::clone(&failed), deadline };
        to.into_iter().zip(from).enumerate().map(rank).collect()
    }

    fn put(&self, to: usize, bytes: Vec<u8>) -> Result<()> {
        let tx =
            self.to.get(to).and_then(Option::as_ref).ok_or_else(|| self.fail(format!("no rank {to} to send to")))?;
        tx.send(bytes).map_err(|_| self.ended(to))
    }

    /// The error for rank `q` having ended: a rank's failure, when one
    /// failed (the ranks it left waiting may have ended since), else that.
    fn ended(&self, q: usize) -> Error {
        self.failure().unwrap_or_else(|| self.fail(format!("rank {q} has ended")))
    }

    /// The error naming the first rank that failed, if one did.
    fn failure(&self) -> Option<Error> {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.as_ref().map(|(q, why)| self.fail(format!("rank {q} failed: {why}")))
    }

    /// The next message from rank `from`, of `len` bytes.
    fn take(&self, from: usize, len: usize) -> Result<Vec<u8>> {
        let rx = self
            .from
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.fail(format!("no rank {from} to receive from")))?;
        let start = Instant::now();
        let bytes = loop {
            let ended = match rx.recv_timeout(POLL) {
                Ok(bytes) => break bytes,
                Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            if ended {
                return Err(self.ended(from));
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if start.elapsed() > self.deadline {
                return Err(self.fail(format!("rank {from} sent nothing for {:?}", self.deadline)));
            }
        };
        if bytes.len() != len {
            return Err(self.fail(format!("rank {from} sent {} bytes, {len} expected", bytes.len())));
        }
        Ok(bytes)
    }

    fn fail(&self, msg: String) -> Error {
        Error::collective(self.rank, msg)
    }
}

fn to_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8], data: &mut [f32]) {
    for (v, b) in data.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

impl Collective for Local {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.to.len()
    }

    fn send(&self, to: usize, data: &[f32]) -> Result<()> {
        self.put(to, to_bytes(data))
    }

    fn receive(&self, from: usize, data: &mut [f32]) -> Result<()> {
        from_bytes(&self.take(from, data.len() * 4)?, data);
        Ok(())
    }

    fn broadcast(&self, root: usize, data: &mut [f32]) -> Result<()> {
        if self.rank == root {
            (0..self.size()).filter(|&q| q != root).try_for_each(|q| self.put(q, to_bytes(data)))
        } else {
            self.receive(root, data)
        }
    }

    fn broadcast_bytes(&self, root: usize, bytes: &mut [u8]) -> Result<()> {
        if self.rank == root {
            (0..self.size()).filter(|&q| q != root).try_for_each(|q| self.put(q, bytes.to_vec()))
        } else {
            bytes.copy_from_slice(&self.take(root, bytes.len())?);
            Ok(())
        }
    }

    fn abort(&self, why: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.get_or_insert_with(|| (self.rank, why.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_broadcasts_copy_the_roots_values() {
        let ranks = Local::group(3);
        std::thread::scope(|s| {
            for c in ranks {
                s.spawn(move || {
                    let mut v = [c.rank() as f32; 4];
                    c.broadcast(2, &mut v).unwrap();
                    assert_eq!(v, [2.0; 4]);
                    if c.rank() == 0 {
                        c.send(1, &[1.0, 2.0]).unwrap();
                        c.send(1, &[3.0, 4.0]).unwrap();
                    } else if c.rank() == 1 {
                        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
                        c.receive(0, &mut a).unwrap();
                        c.receive(0, &mut b).unwrap();
                        assert_eq!((a, b), ([1.0, 2.0], [3.0, 4.0]));
                    }
                    let mut bytes = if c.rank() == 1 { *b"rank1" } else { [0; 5] };
                    c.broadcast_bytes(1, &mut bytes).unwrap();
                    assert_eq!(&bytes, b"rank1");
                });
            }
        });
    }

    #[test]
    fn a_rank_that_ended_is_an_error_not_a_hang() {
        let mut ranks = Local::group(2);
        let survivor = ranks.remove(0);
        drop(ranks);
        let e = survivor.receive(1, &mut [0.0; 2]).unwrap_err();
        assert_eq!(e.to_string(), "rank 0: rank 1 has ended");
    }

    /// A rank that aborts ends the waits of every other rank, whichever
    /// rank they wait on, with its reason; a rank that sends nothing ends
    /// them at the deadline.
    #[test]
    fn an_abort_or_the_deadline_ends_a_wait_with_an_error() {
        let mut ranks = Local::group(3);
        let (c, waiting) = (ranks.pop().unwrap(), ranks.remove(0));
        ranks[0].abort("out of memory");
        let e = waiting.receive(2, &mut [0.0; 2]).unwrap_err();
        assert_eq!(e.to_string(), "rank 0: rank 1 failed: out of memory");
        drop(c);
        let quiet = Local::group_with_deadline(2, Duration::from_millis(50));
        let t = Instant::now();
        let e = quiet[1].receive(0, &mut [0.0; 2]).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(e.to_string().starts_with("rank 1: rank 0 sent nothing for"), "{e}");
    }
}
