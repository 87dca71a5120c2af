//! Ctrl-C (SIGINT) and SIGTERM while training. The first asks the loop to
//! stop at the next step boundary, write a checkpoint and print the command
//! that continues the run; a second one, while that is under way, ends the
//! process at once as the signal's default action would (the files are
//! written atomically, so a checkpoint is then either the old or the new).

#[cfg(unix)]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Whether a stop was asked for, and by which signal.
pub struct Interrupt {
    /// The number of the first signal caught, 0 while none has been.
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now on. Without the handlers (they
    /// could not be installed, or `catch` is false: several MPI ranks, which
    /// would each stop at a different step) the signals keep their default
    /// action, which ends the run with its last checkpoint intact.
    pub fn install(catch: bool) -> Interrupt {
        let interrupt = Interrupt { signal: Arc::new(AtomicUsize::new(0)) };
        if catch {
            interrupt.catch();
        }
        interrupt
    }

    #[cfg(unix)]
    fn catch(&self) {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let armed = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            // The order matters: the default action is armed by the first
            // signal and taken by the second.
            let installed = signal_hook::flag::register_conditional_default(sig, Arc::clone(&armed))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&armed)))
                .and_then(|_| signal_hook::flag::register_usize(sig, Arc::clone(&self.signal), sig as usize));
            if installed.is_err() {
                // The default action stays: the run can still be ended.
                break;
            }
        }
    }

    #[cfg(not(unix))]
    fn catch(&self) {}

    /// The signal that asked the run to stop, if one has.
    pub fn caught(&self) -> Option<Signal> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n if n == Signal::Int.number() => Some(Signal::Int),
            _ => Some(Signal::Term),
        }
    }
}

/// A signal that stops a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    /// The exit status a shell reports for a program the signal ended:
    /// 128 + its number.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }

    /// The signal's number (POSIX fixes both).
    fn number(self) -> usize {
        match self {
            Signal::Int => 2,
            Signal::Term => 15,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }
}
