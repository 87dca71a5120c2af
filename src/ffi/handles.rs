//! The handles the C ABI hands out: a model, and a trainer that borrows a
//! model's network while it lives. `model.rs` and `trainer.rs` hold their
//! functions.

use crate::{Mlp, Predictor, Trainer};
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
        bp_model { state: ModelState::Own(mlp), cache: Mutex::new(None), threads: 0 }
    }

    pub(super) fn mlp(&self) -> &Mlp {
        match &self.state {
            ModelState::Own(m) => m,
            // SAFETY: a lent model's trainer is alive until bp_trainer_free
            // gives the network back (the header's ownership contract).
            ModelState::Lent(t) => unsafe { (**t).trainer.mlp() },
        }
    }

    /// The trainer's step count while lent (`None` when the model is its
    /// own): what the cached predictor's weights are tagged with.
    fn steps(&self) -> Option<u64> {
        match &self.state {
            ModelState::Own(_) => None,
            // SAFETY: as in `mlp`.
            ModelState::Lent(t) => Some(unsafe { (**t).trainer.steps() }),
        }
    }

    /// Forgets the cached predictor (the weights are changing hands).
    pub(super) fn clear_cache(&mut self) {
        *self.cache.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The outputs for `rows` rows of `x`, through the cached predictor
    /// (re-packed when the trainer has stepped since), or a one-off on this
    /// thread while another thread holds the cache.
    pub(super) fn predict(&self, x: &[f32], rows: usize, y: &mut [f32]) -> crate::Result<()> {
        let (mlp, steps) = (self.mlp(), self.steps());
        let Ok(mut cache) = self.cache.try_lock() else {
            return mlp.predict(x, rows, y);
        };
        match &mut *cache {
            Some(c) if c.steps == steps => {}
            Some(c) => {
                c.predictor.load(mlp)?;
                c.steps = steps;
            }
            None => *cache = Some(Cached { steps, predictor: Predictor::with_threads(mlp, self.threads)? }),
        }
        cache.as_mut().expect("filled above").predictor.predict(x, rows, y)
    }
}

/// A trainer bound to a model (opaque).
pub struct bp_trainer {
    pub(super) trainer: Trainer,
    pub(super) model: *mut bp_model,
    /// The caller freed the model first: free it with the trainer.
    pub(super) model_freed: bool,
}
