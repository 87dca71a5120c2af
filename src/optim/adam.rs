//! Adam and AdamW: PyTorch's `torch.optim.Adam` (weight decay added to the
//! gradient) and `torch.optim.AdamW` (weight decay applied to the weights,
//! decoupled), without amsgrad.

use super::{Optimizer, Slots, UpdateStep};
use crate::error::{Error, Result};
use crate::kernels::{AdamStep, Kernels, Rewrite};

/// `g ← g + λ·w`; `m ← β1·m + (1-β1)·g`; `v ← β2·v + (1-β2)·g²`;
/// `w ← w - lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε)`. `Default` is PyTorch's:
/// β1 0.9, β2 0.999, ε 1e-8, λ 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty λ ≥ 0, added to the gradient.
    pub weight_decay: f64,
}

/// As [`Adam`], but the decay is decoupled: `w ← w·(1 - lr·λ)` before the
/// moments, and λ never enters the gradient. `Default` is PyTorch's: β1 0.9,
/// β2 0.999, ε 1e-8, λ 0.01.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay λ ≥ 0.
    pub weight_decay: f64,
}

impl Default for Adam {
    fn default() -> Self {
        Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

fn validate(beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Result<()> {
    for (what, b) in [("beta1", beta1), ("beta2", beta2)] {
        if !(0.0..1.0).contains(&b) {
            return Err(Error::config(what, format!("must be in [0, 1), got {b}")));
        }
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(Error::config("eps", format!("must be finite and ≥ 0, got {eps}")));
    }
    super::check_decay(weight_decay)
}

/// The step's scalars: computed in f64, as PyTorch computes them in Python
/// floats, then rounded to f32 where the kernel uses them.
fn step_scalars(beta1: f64, beta2: f64, eps: f64, at: UpdateStep) -> AdamStep {
    let (lr, grad_scale) = (at.lr, at.grad_scale);
    let t = at.step.clamp(1, i32::MAX as u64) as i32;
    let bc1 = 1.0 - beta1.powi(t);
    let bc2 = 1.0 - beta2.powi(t);
    AdamStep {
        lr_bc1: (lr / bc1) as f32,
        one_minus_beta1: (1.0 - beta1) as f32,
        beta2: beta2 as f32,
        one_minus_beta2: (1.0 - beta2) as f32,
        bc2_sqrt: bc2.sqrt() as f32,
        eps: eps as f32,
        l2: 0.0,
        decay: 1.0,
        grad_scale,
    }
}

/// The Optimizer impl of the two rules, which differ in their name and in
/// where the weight decay goes (`decay_terms` gives `(l2, decay)`).
macro_rules! adam_rule {
    ($T:ident, $name:literal, |$o:ident, $lr:ident| $decay_terms:expr) => {
        impl Optimizer for $T {
            fn name(&self) -> &'static str {
                $name
            }

            fn slots(&self) -> usize {
                2
            }

            fn validate(&self) -> Result<()> {
                validate(self.beta1, self.beta2, self.eps, self.weight_decay)
            }

            fn update(&self, params: &mut [f32], grads: &[f32], slots: Slots<'_>, at: UpdateStep) -> Result<()> {
                let ($o, $lr) = (self, at.lr);
                let (l2, decay): (f32, f32) = $decay_terms;
                let p = AdamStep { l2, decay, ..step_scalars(self.beta1, self.beta2, self.eps, at) };
                let mv = [Rewrite::in_place(slots.m), Rewrite::in_place(slots.v)];
                Kernels::active().adam_update_from(Rewrite::in_place(params), grads, mv, p)
            }

            fn set_weight_decay(&mut self, weight_decay: f64) -> Result<()> {
                self.weight_decay = weight_decay;
                Ok(())
            }
        }
    };
}

// Adam adds λ·w to the gradient; AdamW multiplies w by 1 - lr·λ.
adam_rule!(Adam, "adam", |o, _lr| (o.weight_decay as f32, 1.0));
adam_rule!(AdamW, "adamw", |o, lr| (0.0, (1.0 - lr * o.weight_decay) as f32));
