//! Dense layers and their activations: the paired passes
//!
//! ```text
//! dense_forward:  out   = f(inp·W + b)                      (rows × out)
//! dense_backward: dinp  = (dout·Wᵀ) ⊙ f'(inp)                (rows × in)
//! dense_grad:     dW    = inpᵀ·dout,  db = Σ_rows dout       (in × out, out)
//! ```
//!
//! `W` is `in × out` row-major, so a row of activations times `W` is the
//! next row. Forward keeps only `h = f(s)`: every derivative used here is a
//! function of `h` (σ' = h(1-h), tanh' = 1-h², ReLU' = [h > 0]).

use crate::error::Result;
use crate::kernels::gemm::{gemm, GemmScratch, MatMut, MatRef, PackedB};
use crate::kernels::Kernels;

/// The activation of the hidden units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Logistic sigmoid `h = 1/(1+e^-s)`, `f'(s) = h(1-h)`. The default.
    #[default]
    Sigmoid,
    /// Hyperbolic tangent, `f'(s) = 1-h²`.
    Tanh,
    /// Rectified linear `h = max(s, 0)`, `f'(s) = [h > 0]`.
    Relu,
}

impl Activation {
    /// Every activation.
    pub const ALL: [Activation; 3] = [Activation::Sigmoid, Activation::Tanh, Activation::Relu];

    /// The lower-case name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }

    /// Parses [`Activation::name`].
    pub fn from_name(s: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == s)
    }

    /// `x ← f(x + b)` for each row of `x` (`b.len()` columns).
    pub fn forward(self, k: &Kernels, x: &mut [f32], b: &[f32]) -> Result<()> {
        match self {
            Activation::Sigmoid => k.bias_sigmoid(x, b),
            Activation::Tanh => k.bias_tanh(x, b),
            Activation::Relu => k.bias_relu(x, b),
        }
    }

    /// `d ← d ⊙ f'(s)`, with `f'` computed from the activation's output `h`.
    pub fn backward(self, k: &Kernels, d: &mut [f32], h: &[f32]) -> Result<()> {
        match self {
            Activation::Sigmoid => k.sigmoid_backward(d, h),
            Activation::Tanh => k.tanh_backward(d, h),
            Activation::Relu => k.relu_backward(d, h),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `out ← f(inp·W + b)` for `rows` rows: the GEMM writes the pre-activations,
/// then one pass adds the bias and applies `f`. With `act = None` the bias is
/// added and nothing else (the logits of the output layer; the head applies
/// its own function).
///
/// Shapes: `inp` rows × in (any strides), `w` packed in × out, `out`
/// rows × out row-major.
pub fn dense_forward(
    out: &mut [f32],
    inp: MatRef<'_>,
    w: &PackedB,
    b: &[f32],
    act: Option<Activation>,
    k: &Kernels,
    scratch: &mut GemmScratch,
) -> Result<()> {
    let rows = inp.rows();
    gemm(inp, w, MatMut::new(out, rows, w.cols())?, false, scratch)?;
    match act {
        Some(a) => a.forward(k, out, b),
        None => k.bias_identity(out, b),
    }
}

/// `dinp ← (dout·Wᵀ) ⊙ f'(inp)`: the delta of the layer below, `act` being
/// the activation that produced `inp`.
///
/// Shapes: `dinp` rows × in, `dout` rows × out, `wt` = Wᵀ packed out × in,
/// `inp` rows × in (the activations `h` that forward kept).
pub fn dense_backward(
    dinp: &mut [f32],
    dout: MatRef<'_>,
    wt: &PackedB,
    inp: &[f32],
    act: Activation,
    k: &Kernels,
    scratch: &mut GemmScratch,
) -> Result<()> {
    let rows = dout.rows();
    gemm(dout, wt, MatMut::new(dinp, rows, wt.cols())?, false, scratch)?;
    act.backward(k, dinp, inp)
}

/// `dW[r0..r0+tile] (+)= inp[:, r0..r0+tile]ᵀ·dout` for one block of rows of
/// the weight gradient: `dw` is that block (tile × out, row-major),
/// `inp_t` the matching rows of `inpᵀ` (tile × rows, a strided view of the
/// row-major activations), `dout` packed (rows × out). `accumulate` adds to
/// what `dw` holds, which sums shard after shard in a fixed order.
pub fn dense_grad(
    dw: &mut [f32],
    inp_t: MatRef<'_>,
    dout: &PackedB,
    accumulate: bool,
    scratch: &mut GemmScratch,
) -> Result<()> {
    let tile = inp_t.rows();
    gemm(inp_t, dout, MatMut::new(dw, tile, dout.cols())?, accumulate, scratch)
}
