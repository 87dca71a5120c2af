//! Stochastic gradient descent with momentum, Nesterov momentum and weight
//! decay: PyTorch's `torch.optim.SGD` (dampening 0).

use super::{Optimizer, Slots, UpdateStep};
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Rewrite, SgdStep};

/// `g ← g + λ·w`; with momentum μ, `b ← g` on the first step and
/// `b ← μ·b + g` after, then `g ← g + μ·b` (Nesterov) or `g ← b`;
/// `w ← w - lr·g`. `Default` is PyTorch's: no momentum, no decay.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sgd {
    /// Momentum μ ∈ [0, 1) (0: none).
    pub momentum: f64,
    /// Nesterov momentum (needs μ > 0).
    pub nesterov: bool,
    /// L2 penalty λ ≥ 0, added to the gradient.
    pub weight_decay: f64,
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn slots(&self) -> usize {
        (self.momentum != 0.0) as usize
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config("momentum", format!("must be in [0, 1), got {}", self.momentum)));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::config("nesterov", "needs a momentum above 0"));
        }
        super::check_decay(self.weight_decay)
    }

    fn update(&self, params: &mut [f32], grads: &[f32], slots: Slots<'_>, at: UpdateStep) -> Result<()> {
        let p = SgdStep {
            lr: at.lr as f32,
            momentum: self.momentum as f32,
            weight_decay: self.weight_decay as f32,
            nesterov: self.nesterov,
            first: at.step <= 1,
            grad_scale: at.grad_scale,
        };
        Kernels::active().sgd_update_from(Rewrite::in_place(params), grads, Rewrite::in_place(slots.m), p)
    }

    fn set_weight_decay(&mut self, weight_decay: f64) -> Result<()> {
        self.weight_decay = weight_decay;
        Ok(())
    }
}
