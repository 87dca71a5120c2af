//! The handles the C ABI hands out: a model, and a trainer that borrows a
//! model's network while it lives. `model.rs` and `trainer.rs` hold their
//! functions.
//!
//! A lent model reaches its network only through the trainer's lock, which
//! a step holds: a prediction (or a save) on one thread while a step runs
//! on another waits for the step and sees its weights, never a mixture.

use crate::{Mlp, Precision, Predictor, Trainer};
use std::sync::Mutex;

/// A network: layer sizes, activation, head and weights (opaque).
pub struct bp_model {
    pub(super) state: ModelState,
    /// The predictor `bp_model_predict` reuses, packed for the weights of a
    /// given step (`None`: the model's own); cleared when the weights
    /// change hands.
    cache: Mutex<Option<Cached>>,
    /// Threads of that predictor (0: every core).
    pub(super) threads: usize,
    /// Precision of its products.
    pub(super) precision: Precision,
}

struct Cached {
    steps: Option<u64>,
    predictor: Predictor,
}

pub(super) enum ModelState {
    Own(Mlp),
    /// Lent to the trainer, which holds the network until it is freed.
    Lent(*const bp_trainer),
}

impl bp_model {
    pub(super) fn new(mlp: Mlp) -> bp_model {
        bp_model { state: ModelState::Own(mlp), cache: Mutex::new(None), threads: 0, precision: Precision::Fp32 }
    }

    /// `f` on the network and, while it is lent, the trainer's step count
    /// (what a cached predictor's weights are tagged with), under the
    /// trainer's lock.
    pub(super) fn with_mlp<R>(&self, f: impl FnOnce(&Mlp, Option<u64>) -> R) -> R {
        match &self.state {
            ModelState::Own(m) => f(m, None),
            ModelState::Lent(t) => {
                // SAFETY: a lent model's trainer is alive until
                // bp_trainer_free gives the network back (the header's
                // ownership contract); it is only ever shared, its trainer
                // reached through the lock.
                let t = unsafe { &**t };
                let trainer = t.lock();
                f(trainer.mlp(), Some(trainer.steps()))
            }
        }
    }

    /// Forgets the cached predictor (the weights are changing hands).
    pub(super) fn clear_cache(&mut self) {
        *self.cache.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// `f` (a prediction) on the cached predictor (re-packed when the
    /// trainer has stepped since), or on a one-off on this thread while
    /// another thread holds the cache.
    pub(super) fn predict(&self, f: impl FnOnce(&mut Predictor) -> crate::Result<()>) -> crate::Result<()> {
        self.with_mlp(|mlp, steps| {
            let Ok(mut cache) = self.cache.try_lock() else {
                return f(&mut Predictor::with_precision(mlp, 1, self.precision)?);
            };
            match &mut *cache {
                Some(c) if c.steps == steps => {}
                Some(c) => {
                    c.predictor.load(mlp)?;
                    c.steps = steps;
                }
                None => {
                    let predictor = Predictor::with_precision(mlp, self.threads, self.precision)?;
                    *cache = Some(Cached { steps, predictor });
                }
            }
            f(&mut cache.as_mut().expect("filled above").predictor)
        })
    }
}

/// A trainer bound to a model (opaque).
pub struct bp_trainer {
    /// Held by a step, and by every use of the lent model.
    pub(super) trainer: Mutex<Trainer>,
    pub(super) model: *mut bp_model,
    /// The caller freed the model first: free it with the trainer.
    pub(super) model_freed: bool,
}

impl bp_trainer {
    /// The trainer, once no other thread steps or predicts with it. A
    /// panic while it was held (a bug, reported as `BP_ERR_INTERNAL`) does
    /// not lock the handle for good: the next call gets the trainer as the
    /// panic left it.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Trainer> {
        self.trainer.lock().unwrap_or_else(|p| p.into_inner())
    }
}
