//! Optimizers: how a step turns gradients into new parameters.
//!
//! An [`Optimizer`] updates parameters elementwise: parameter `i` changes
//! only from gradient `i` and its own state slots `i`. That contract lets the
//! trainer cut the flat buffers into chunks and update them on every thread
//! in one pass, and keeps the result independent of how they are cut.

/// The two update methods of an [`Optimizer`] whose own `rewrite` takes
/// the parameters and slots as [`Rewrite`]s (in place, or from the old
/// state in one pass), the scalars as an `At`.
macro_rules! rewrite_updates {
    () => {
        fn update(
            &self,
            params: &mut [f32],
            grads: &[f32],
            slots: Slots<'_>,
            lr: f64,
            step: u64,
            grad_scale: f32,
        ) -> Result<()> {
            self.rewrite(super::rewrites(None, params, slots)?, grads, (lr, step, grad_scale))
        }

        fn update_from(
            &self,
            now: super::State<'_>,
            params: &mut [f32],
            grads: &[f32],
            slots: Slots<'_>,
            lr: f64,
            step: u64,
            grad_scale: f32,
        ) -> Result<()> {
            self.rewrite(super::rewrites(Some(now), params, slots)?, grads, (lr, step, grad_scale))
        }
    };
}

mod adam;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamW};
pub use schedule::{Schedule, ScheduleKind};
pub use sgd::Sgd;

use crate::error::{Error, Result};
use crate::kernels::Rewrite;

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

    /// Updates `params` from `grads` (same length) and `slots` at learning
    /// rate `lr`; `step` counts updates from 1; the gradients are first
    /// multiplied by `grad_scale` (global-norm clipping, 1 for none). Must be
    /// elementwise (see the module documentation). Errors only when the
    /// lengths disagree.
    fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        slots: Slots<'_>,
        lr: f64,
        step: u64,
        grad_scale: f32,
    ) -> Result<()>;

    /// [`update`](Self::update) out of place: `params` and `slots` become
    /// `now`'s parameters and slots (laid out alike; a slot empty where
    /// unused) updated from `grads`, and `now` is left unchanged. The
    /// default copies `now` over, then updates in place; the built-in
    /// optimizers read `now` and write the new state in one pass.
    #[allow(clippy::too_many_arguments)]
    fn update_from(
        &self,
        now: State<'_>,
        params: &mut [f32],
        grads: &[f32],
        slots: Slots<'_>,
        lr: f64,
        step: u64,
        grad_scale: f32,
    ) -> Result<()> {
        let Slots { m, v } = slots;
        let (rw, [rm, rv]) = rewrites(Some(now), params, Slots { m: &mut *m, v: &mut *v })?;
        for r in [rw, rm, rv] {
            if let Some(from) = r.from {
                r.to.copy_from_slice(from);
            }
        }
        self.update(params, grads, Slots { m, v }, lr, step, grad_scale)
    }
}

/// The old state an [`Optimizer::update_from`] reads: the parameters, and
/// the slots (each empty, or as long as the parameters).
pub type State<'a> = (&'a [f32], [&'a [f32]; 2]);

/// The scalars of one update: `(lr, step, grad_scale)`.
type At = (f64, u64, f32);

/// The parameters and slots of an update as [`Rewrite`]s: in place without
/// `now`, from `now` with it (whose lengths must be those of `params` and
/// `slots`).
fn rewrites<'a>(
    now: Option<State<'a>>,
    params: &'a mut [f32],
    Slots { m, v }: Slots<'a>,
) -> Result<(Rewrite<'a>, [Rewrite<'a>; 2])> {
    let Some((w0, [m0, v0])) = now else {
        return Ok((Rewrite::in_place(params), [Rewrite::in_place(m), Rewrite::in_place(v)]));
    };
    for (what, old, new) in
        [("parameters", w0.len(), params.len()), ("first slot", m0.len(), m.len()), ("second slot", v0.len(), v.len())]
    {
        if old != new {
            return Err(Error::shape(format!("old {what} of an update"), new, old));
        }
    }
    Ok((Rewrite::from(w0, params), [Rewrite::from(m0, m), Rewrite::from(v0, v)]))
}

/// A weight decay must be finite and ≥ 0.
fn check_decay(weight_decay: f64) -> Result<()> {
    if !weight_decay.is_finite() || weight_decay < 0.0 {
        return Err(Error::config("weight decay", format!("must be finite and ≥ 0, got {weight_decay}")));
    }
    Ok(())
}
