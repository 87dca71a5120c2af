//! The output heads. Each computes, from the logits `s = h·W + b` of a row,
//! the outputs `y`, the error `E` and its gradient in one fused pass:
//!
//! | head | y | E per row | ∂E/∂s |
//! |---|---|---|---|
//! | `Softmax` | `e^s / Σ e^s` | `-Σ t (s - logsumexp s)` | `y - t` |
//! | `Logistic` | `1/(1+e^-s)` | `Σ softplus(s) - t·s` | `y - t` |
//! | `Linear` | `s` | `½ Σ (s - t)²` | `y - t` |
//! | `Poisson` | `e^s` | `Σ e^s - t·s` | `y - t` |
//!
//! The logistic error is the binary cross-entropy `-Σ t ln y + (1-t) ln(1-y)`
//! rewritten so that it is finite and exact for any finite `s`; the softmax
//! error subtracts the row maximum first, so a constant added to a row
//! changes nothing. The Poisson error is the negative log-likelihood of
//! counts `t` with mean `y` without its constant `ln t!` (PyTorch's
//! `PoissonNLLLoss(log_input=True, full=False)`), taken from the logits so
//! that `y` underflowing to 0 leaves it finite. The minibatch objective is
//! the mean of E over the B rows, so the head writes `δ = (y - t)/B`; with
//! row weights, the weighted mean `Σ w E / Σ w`, so `δ = w·(y - t)/Σ w`.

use crate::error::Result;
use crate::kernels::{HeadRows, Kernels};

/// The output layer's function and error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Head {
    /// Softmax over the outputs with cross-entropy against one-hot (or
    /// probability) targets. The default.
    #[default]
    Softmax,
    /// Independent sigmoid outputs with summed binary cross-entropy.
    Logistic,
    /// Identity outputs with half the summed squared error.
    Linear,
    /// Exponential outputs (a rate, for counts) with the Poisson negative
    /// log-likelihood.
    Poisson,
}

impl Head {
    /// Every head.
    pub const ALL: [Head; 4] = [Head::Softmax, Head::Logistic, Head::Linear, Head::Poisson];

    /// The lower-case name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Head::Softmax => "softmax",
            Head::Logistic => "logistic",
            Head::Linear => "linear",
            Head::Poisson => "poisson",
        }
    }

    /// Whether the outputs are real values scored by RMSE and R² (linear,
    /// Poisson) rather than classes.
    pub fn is_regression(self) -> bool {
        matches!(self, Head::Linear | Head::Poisson)
    }

    /// Parses [`Head::name`].
    pub fn from_name(s: &str) -> Option<Head> {
        Head::ALL.into_iter().find(|h| h.name() == s)
    }

    /// `y ← head(y + b)` row by row: the outputs for prediction.
    pub fn forward(self, k: &Kernels, y: &mut [f32], b: &[f32]) -> Result<()> {
        match self {
            Head::Softmax => k.softmax_rows(y, b),
            Head::Logistic => k.bias_sigmoid(y, b),
            Head::Linear => k.bias_identity(y, b),
            Head::Poisson => k.bias_exp(y, b),
        }
    }

    /// The fused head for training: the logits become `y`, each row's
    /// error is written and `delta = (y - t)·scale·w` ([`HeadRows`]).
    pub fn forward_loss(self, k: &Kernels, h: HeadRows<'_>) -> Result<()> {
        match self {
            Head::Softmax => k.softmax_loss(h),
            Head::Logistic => k.logistic_loss(h),
            Head::Linear => k.linear_loss(h),
            Head::Poisson => k.poisson_loss(h),
        }
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
