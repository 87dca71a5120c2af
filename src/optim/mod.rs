//! Optimizers: how a step turns gradients into new parameters.
//!
//! An [`Optimizer`] updates parameters elementwise: parameter `i` changes
//! only from gradient `i` and its own state slots `i`. That contract lets the
//! trainer cut the flat buffers into chunks and update them on every thread
//! in one pass, and keeps the result independent of how they are cut.

mod adam;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamW};
pub use schedule::{Schedule, ScheduleKind};
pub use sgd::Sgd;

use crate::error::{Error, Result};

/// The optimizer state of one chunk of parameters: up to two slots per
/// parameter (momentum, or Adam's first and second moments). A slot the
/// optimizer does not use is empty.
#[derive(Debug)]
pub struct Slots<'a> {
    /// First slot, as long as the parameters, or empty.
    pub m: &'a mut [f32],
    /// Second slot, as long as the parameters, or empty.
    pub v: &'a mut [f32],
}

/// An update rule over flat parameter buffers.
pub trait Optimizer: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// State slots per parameter (0 for plain SGD, at most 2).
    fn slots(&self) -> usize;

    /// Checks the hyperparameters, naming the first out of its domain.
    fn validate(&self) -> Result<()>;

    /// Updates `params` from `grads` (same length) and `slots` at step
    /// `at`. Must be elementwise (see the module documentation). Errors
    /// only when the lengths disagree.
    fn update(&self, params: &mut [f32], grads: &[f32], slots: Slots<'_>, at: UpdateStep) -> Result<()>;

    /// Sets the weight decay λ (finite, ≥ 0, checked by the caller); an
    /// error for a rule without one.
    fn set_weight_decay(&mut self, weight_decay: f64) -> Result<()> {
        let _ = weight_decay;
        Err(Error::config("weight decay", format!("the {} optimizer has none", self.name())))
    }
}

/// The scalars of one update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStep {
    /// The learning rate.
    pub lr: f64,
    /// Updates so far, this one included (from 1).
    pub step: u64,
    /// What the gradients are multiplied by first (global-norm clipping;
    /// 1 for none).
    pub grad_scale: f32,
}

/// A weight decay must be finite and ≥ 0.
pub(crate) fn check_decay(weight_decay: f64) -> Result<()> {
    if !weight_decay.is_finite() || weight_decay < 0.0 {
        return Err(Error::config("weight decay", format!("must be finite and ≥ 0, got {weight_decay}")));
    }
    Ok(())
}
