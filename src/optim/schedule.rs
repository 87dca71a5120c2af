//! Learning-rate schedules over the optimizer steps of a run.

use crate::error::{Error, Result};

/// The shape of the schedule after the warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ScheduleKind {
    /// The base rate throughout.
    #[default]
    Constant,
    /// The base rate times `gamma` every `step_size` steps (PyTorch's `StepLR`
    /// stepped once per optimizer step).
    Step {
        /// Steps between decays, ≥ 1.
        step_size: u64,
        /// Factor per decay, > 0.
        gamma: f64,
    },
    /// Half a cosine from the base rate to zero over the steps after the
    /// warm-up (PyTorch's `CosineAnnealingLR` with `eta_min = 0`).
    Cosine {
        /// Steps in the whole run, warm-up included.
        total_steps: u64,
    },
}

/// A learning-rate schedule: a linear warm-up, then [`ScheduleKind`].
///
/// For optimizer step `t` (counted from 1) and base rate `lr`:
///
/// ```text
/// t ≤ W:            lr · t / W                              (warm-up, W = warmup_steps)
/// after, j = t-W-1: constant  lr
///                   step      lr · γ^⌊j / step_size⌋
///                   cosine    lr · ½(1 + cos(π · j / (T - W)))  (0 once j ≥ T - W)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Schedule {
    /// The shape after the warm-up.
    pub kind: ScheduleKind,
    /// Steps of linear warm-up (0: none).
    pub warmup_steps: u64,
}

impl Schedule {
    /// The learning rate of step `t` (from 1) for base rate `lr`.
    pub fn lr(&self, lr: f64, t: u64) -> f64 {
        let w = self.warmup_steps;
        if t <= w {
            return lr * t as f64 / w as f64;
        }
        let j = t - w - 1;
        match self.kind {
            ScheduleKind::Constant => lr,
            ScheduleKind::Step { step_size, gamma } => {
                lr * gamma.powi((j / step_size.max(1)).min(i32::MAX as u64) as i32)
            }
            ScheduleKind::Cosine { total_steps } => {
                let span = total_steps.saturating_sub(w);
                if j >= span {
                    0.0
                } else {
                    lr * 0.5 * (1.0 + (std::f64::consts::PI * j as f64 / span as f64).cos())
                }
            }
        }
    }

    /// Checks the settings, naming the first out of its domain.
    pub fn validate(&self) -> Result<()> {
        match self.kind {
            ScheduleKind::Constant => Ok(()),
            ScheduleKind::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(Error::config("step size", "must be at least 1"));
                }
                if !gamma.is_finite() || gamma <= 0.0 {
                    return Err(Error::config("gamma", format!("must be finite and > 0, got {gamma}")));
                }
                Ok(())
            }
            ScheduleKind::Cosine { total_steps } if total_steps <= self.warmup_steps => Err(Error::config(
                "cosine schedule",
                format!("the run has {total_steps} steps, no more than the {} of warm-up", self.warmup_steps),
            )),
            ScheduleKind::Cosine { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_each_kind_at_its_boundaries() {
        let c = Schedule { kind: ScheduleKind::Constant, warmup_steps: 4 };
        let got: Vec<f64> = (1..=6).map(|t| c.lr(2.0, t)).collect();
        assert_eq!(got, [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]);

        let s = Schedule { kind: ScheduleKind::Step { step_size: 3, gamma: 0.5 }, warmup_steps: 0 };
        let got: Vec<f64> = (1..=7).map(|t| s.lr(1.0, t)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);

        let k = Schedule { kind: ScheduleKind::Cosine { total_steps: 12 }, warmup_steps: 2 };
        assert_eq!(k.lr(1.0, 2), 1.0); // last warm-up step
        assert_eq!(k.lr(1.0, 3), 1.0); // first cosine step: j = 0
        assert!((k.lr(1.0, 8) - 0.5).abs() < 1e-12); // j = 5 of 10: halfway
        assert!(k.lr(1.0, 12) > 0.0 && k.lr(1.0, 12) < 0.025); // last step of the run
        assert_eq!(k.lr(1.0, 13), 0.0); // past the run
        assert!(Schedule { kind: ScheduleKind::Cosine { total_steps: 2 }, warmup_steps: 2 }.validate().is_err());
        assert!(Schedule { kind: ScheduleKind::Step { step_size: 0, gamma: 0.5 }, warmup_steps: 0 }
            .validate()
            .is_err());
    }
}
