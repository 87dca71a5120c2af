//! Plain stochastic gradient descent.

use super::{Optimizer, Slots};
use crate::kernels::Kernels;

/// `w ← w - lr·g`, one fused vector pass (`axpy` with `a = -lr`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sgd;

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn slots(&self) -> usize {
        0
    }

    fn update(&self, params: &mut [f32], grads: &[f32], _slots: Slots<'_>, lr: f32, _step: u64) -> crate::Result<()> {
        Kernels::active().axpy(params, -lr, grads)
    }
}
