//! Dense layers and their activations: the paired passes
//!
//! ```text
//! dense_forward:  out   = f(inp·W + b)                      (rows × out)
//! dense_backward: dinp  = (dout·Wᵀ) ⊙ f'(inp)                (rows × in)
//! dense_grad:     dW    = inpᵀ·dout,  db = Σ_rows dout       (in × out, out)
//! ```
//!
//! `sparse_forward` and `sparse_grad` are the first and last for an input
//! that is mostly zeros: a multiply-add per nonzero input, not per input.
//!
//! `W` is `in × out` row-major, so a row of activations times `W` is the
//! next row. Forward keeps only `h = f(s)`: every derivative used here is a
//! function of `h` (σ' = h(1-h), tanh' = 1-h², ReLU' = `[h > 0]`).
//!
//! The forward and backward passes work on a block of output columns at a
//! time (the whole layer, or a share of it for one thread): the GEMM writes
//! the block ([`gemm_layer`]), then the activation pass runs over it while
//! it is in cache. A value does not depend on the block it was computed in.
//! The weight gradient is a sum over the batch's rows, which shards and
//! ranks cut: it is one chain over the rows ([`gemm`] with `accumulate`).

use crate::error::Result;
use crate::kernels::gemm::{gemm, gemm_layer, AOperand, BOperand, Dest, GemmScratch, MatMut, MatRef, PackedB};
use crate::kernels::{Kernels, SparseOperands};

/// The activation of the hidden units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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

/// A block of a dense layer's columns as the forward pass uses them: `w`
/// the block's columns of `W` (in × c; a view, or packed ahead), `b` its
/// biases (c), and the activation, `None` for the output layer's logits.
pub struct ForwardParams<'b, W> {
    /// The weights.
    pub w: W,
    /// The biases.
    pub b: &'b [f32],
    /// The activation.
    pub act: Option<Activation>,
}

/// A block of columns of the delta below as the backward pass makes it:
/// `wt` the block's columns of `Wᵀ` (out × c: a transposed view of `W`'s
/// rows, or packed ahead), `h` the block's columns of the activations that
/// forward kept (rows × c, contiguous rows), `act` the activation that
/// produced them.
pub struct BackwardParams<'h, W> {
    /// The transposed weights.
    pub wt: W,
    /// The activations.
    pub h: MatRef<'h>,
    /// The activation.
    pub act: Activation,
}

/// What a dense pass runs on: the kernels and the GEMM's scratch.
pub struct Engine<'e> {
    /// The elementwise kernels.
    pub kernels: &'e Kernels,
    /// The GEMM's packing space.
    pub scratch: &'e mut GemmScratch,
}

/// `out ← f(inp·W + b)` for one block of output columns: the GEMM writes the
/// pre-activations, then one pass per row adds the bias and applies `f`.
/// With `act = None` nothing follows the GEMM (the output layer's logits;
/// the head adds the bias and applies its own function).
///
/// Shapes: `out` rows × c (a view, any row stride), `inp` rows × in (a view,
/// or packed ahead), `p` as [`ForwardParams`].
pub fn dense_forward<'a, 'w, W: Into<BOperand<'w>>>(
    mut out: MatMut<'_>,
    inp: impl Into<AOperand<'a>>,
    p: ForwardParams<'_, W>,
    e: Engine<'_>,
) -> Result<()> {
    gemm_layer(inp, p.w, out.reborrow(), e.scratch)?;
    activate(out, p.b, p.act, e.kernels)
}

/// `out ← f(out + b)` row by row, when there is an `f`.
fn activate(mut out: MatMut<'_>, b: &[f32], act: Option<Activation>, k: &Kernels) -> Result<()> {
    if let Some(a) = act {
        for i in 0..out.rows() {
            a.forward(k, out.row_mut(i).expect("row below rows"), b)?;
        }
    }
    Ok(())
}

/// `dinp ← (dout·Wᵀ) ⊙ f'(h)` for one block of columns of the delta below.
///
/// Shapes: `dinp` rows × c (a view), `dout` rows × out (a view, or packed
/// ahead), `p` as [`BackwardParams`].
pub fn dense_backward<'a, 'w, W: Into<BOperand<'w>>>(
    mut dinp: MatMut<'_>,
    dout: impl Into<AOperand<'a>>,
    p: BackwardParams<'_, W>,
    e: Engine<'_>,
) -> Result<()> {
    gemm_layer(dout, p.wt, dinp.reborrow(), e.scratch)?;
    for i in 0..dinp.rows() {
        let h = p.h.row(i).ok_or_else(|| crate::Error::shape("activations", "contiguous rows", "a strided view"))?;
        p.act.backward(e.kernels, dinp.row_mut(i).expect("row below rows"), h)?;
    }
    Ok(())
}

/// A block of rows of a weight gradient: `dw` (tile × out, row-major),
/// and whether each value's chain over the batch's rows continues from
/// what it holds (`accumulate`), so that the rows of a batch taken shard
/// after shard sum as they would in one product.
pub struct GradBlock<'g> {
    /// The block.
    pub dw: &'g mut [f32],
    /// Continue from `dw` (true) or start from 0.
    pub accumulate: bool,
}

/// `dW[r0..r0+tile] (+)= inp[:, r0..r0+tile]ᵀ·dout` for one block of rows of
/// the weight gradient `g`: `inp_t` the matching rows of `inpᵀ` (tile ×
/// rows, a strided view of the row-major activations), `dout` packed (rows
/// × out).
pub fn dense_grad(g: GradBlock<'_>, inp_t: MatRef<'_>, dout: &PackedB, scratch: &mut GemmScratch) -> Result<()> {
    let tile = inp_t.rows();
    gemm(inp_t, dout, Dest { c: MatMut::new(g.dw, tile, dout.cols())?, accumulate: g.accumulate }, scratch)
}

/// The contiguous rows of `m` for the sparse products: its data and row
/// stride.
fn rows_of<'a>(m: &MatRef<'a>, what: &str) -> Result<(&'a [f32], usize)> {
    m.rows_data().ok_or_else(|| crate::Error::shape(what, "contiguous rows", "a strided view"))
}

/// [`dense_forward`] for a mostly-zero input: `out ← f(inp·W + b)`, each
/// value the sum of the nonzero inputs' terms in column order
/// ([`Kernels::nonzero_product`], whose groups of rows make a term where
/// another row of the group is nonzero: `0·W`, nothing while `W` is
/// finite).
///
/// Shapes: `out` rows × c (a view), `inp` rows × in (contiguous rows), `p`
/// as [`ForwardParams`], its `w` with contiguous rows.
pub fn sparse_forward(
    mut out: MatMut<'_>,
    inp: MatRef<'_>,
    p: ForwardParams<'_, MatRef<'_>>,
    k: &Kernels,
) -> Result<()> {
    let w = p.w;
    if inp.rows() != out.rows() || w.rows() != inp.cols() || w.cols() != out.cols() {
        let want = format!("{}×{} times {}×{}", out.rows(), w.rows(), w.rows(), out.cols());
        let got = format!("{}×{} times {}×{}", inp.rows(), inp.cols(), w.rows(), w.cols());
        return Err(crate::Error::shape("sparse forward", want, got));
    }
    let ((m, ld), (xs, xld)) = (rows_of(&w, "sparse forward W")?, rows_of(&inp, "sparse forward input")?);
    let (rows, depth) = (out.rows(), inp.cols());
    // All rows in one product where they lie back to back, so that the
    // kernel takes them in threes (0.70 of the time of a row at a time on
    // the digits, BENCHMARKS.md); otherwise row by row.
    let back_to_back = depth > 0 && (xld == depth || rows <= 1);
    match out.contiguous_mut().filter(|_| back_to_back) {
        Some(o) => k.nonzero_product(o, SparseOperands { a: &xs[..rows * depth], depth, m, ld }, false)?,
        None => {
            for i in 0..rows {
                let row = out.row_mut(i).expect("row below rows");
                match depth {
                    0 => row.fill(0.0),
                    _ => k.nonzero_product(row, SparseOperands { a: &xs[i * xld..][..depth], depth, m, ld }, false)?,
                }
            }
        }
    }
    activate(out, p.b, p.act, k)
}

/// [`dense_grad`] for a mostly-zero input: `dW[r0..r0+tile] (+)=
/// inp[:, r0..r0+tile]ᵀ·dout`, each value the chain of the nonzero inputs'
/// terms in row order, from what `g.dw` holds when `g.accumulate`.
/// `inp_t` has contiguous rows (a transposed view copied row-major), so
/// that each row of `dW` reads its inputs in a line.
///
/// Shapes: `g.dw` tile × out (row-major), `inp_t` tile × rows, `dout` rows
/// × out (contiguous rows).
pub fn sparse_grad(g: GradBlock<'_>, inp_t: MatRef<'_>, dout: MatRef<'_>, k: &Kernels) -> Result<()> {
    let GradBlock { dw, accumulate } = g;
    let (tile, rows) = (inp_t.rows(), inp_t.cols());
    if dw.len() != tile * dout.cols() || dout.rows() != rows {
        let want = format!("{tile}×{} (after {tile}×{rows} times {rows}×{})", dout.cols(), dout.cols());
        return Err(crate::Error::shape(
            "sparse gradient",
            want,
            format!("{} values, dout {} rows", dw.len(), dout.rows()),
        ));
    }
    if rows == 0 {
        if !accumulate {
            dw.fill(0.0);
        }
        return Ok(());
    }
    let (a, _) = rows_of(&inp_t, "sparse gradient input")?;
    let (m, ld) = rows_of(&dout, "sparse gradient dout")?;
    k.nonzero_product(dw, SparseOperands { a: &a[..tile * rows], depth: rows, m, ld }, accumulate)
}
