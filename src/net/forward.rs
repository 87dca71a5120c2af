//! Forward: `h_l = f(h_{l-1}·W_l + b_l)` layer after layer for a block of
//! rows, the same pass for a training shard and for a predictor's rows.
//!
//! Within a layer, the GEMM writes a block of output columns and the
//! activation pass runs over it while it is in cache; on a team of several
//! threads each takes a block. A value does not depend on the block it was
//! computed in, so the cut changes no bit.

use super::Net;
use crate::error::{Error, Result};
use crate::exec::{Chunks, ChunksMut, Split, Team};
use crate::kernels::gemm::{
    packs_a_per_block, AOperand, GemmPath, GemmScratch, MatMut, MatRef, Mode, PackedA, Precision,
};
use crate::kernels::Kernels;
use crate::layers::{dense_forward, sparse_forward, Engine, ForwardParams};

/// The rows a pass reads.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    /// `rows × inputs`, row-major.
    pub x: &'a [f32],
    pub rows: usize,
    /// Whether `x` is mostly zeros ([`sparse_inputs`]): the first layer
    /// then multiplies by its nonzeros only.
    pub sparse: bool,
}

/// What a pass works with: GEMM packing space for each thread of its team
/// (a column block each), room to pack a layer's input once for all the
/// blocks (when the team has several threads), and the team.
pub(crate) struct Work<'a, 't> {
    pub scratch: &'a mut [GemmScratch],
    pub shared: Option<&'a mut PackedA>,
    pub team: Team<'t>,
}

impl Work<'_, '_> {
    /// A layer's left-hand operand `src` as the column blocks of `out`
    /// read it in `mode`: with several blocks, or in bf16 one so wide that
    /// the GEMM would pack A once for each of its blocks of columns
    /// ([`packs_a_per_block`]), packed once into the shared space (its
    /// panels split across the team), so that nothing packs it again;
    /// otherwise the view, which the GEMM packs block by block. (Measured on
    /// the XL forward, one Zen 4 core: in bf16, whose packing converts, 195-201
    /// GFLOP/s packed once against 192-198; in f32 89-92 against 91-93, as
    /// the whole f32 A no longer fits in L2.)
    pub(crate) fn left<'s>(
        &'s mut self,
        src: MatRef<'s>,
        out: &ColBlocks<'_>,
        mode: Mode,
    ) -> Result<(AOperand<'s>, &'s mut [GemmScratch], Team<'s>)> {
        let team = self.team;
        match self.shared.as_deref_mut() {
            Some(p) if out.len() > 1 || (mode.precision == Precision::Bf16 && packs_a_per_block(out.c.cols())) => {
                p.pack_on(src, mode, team)?;
                Ok((AOperand::from(&*p), &mut *self.scratch, team))
            }
            _ => Ok((src.into(), &mut *self.scratch, team)),
        }
    }
}

/// The largest share of nonzero inputs for which the first layer's
/// products skip the zeros ([`sparse_forward`],
/// [`sparse_grad`](crate::layers::sparse_grad)). Measured on this
/// project's Xeon (AVX-512) for 64 rows of 784 inputs into 128 columns,
/// nonzeros at random places, best of 3 × 1000 calls, sparse over dense:
/// forward 0.39 / 0.77 / 1.10 / 1.47 and weight gradient 0.42 / 0.58 /
/// 0.82 / 1.07 at 10 / 20 / 30 / 40 % nonzero (MNIST's digits, about 19 %
/// nonzero in strokes, give 0.53 and 0.56).
const MAX_DENSITY: f64 = 0.25;

/// Whether inputs `x` are mostly zeros: at most 25 % of them nonzero. It
/// depends on the values only, so a caller that asks it of a whole batch
/// (or a whole call) makes a choice no thread count or cut changes.
pub(crate) fn sparse_inputs(k: &Kernels, x: &[f32]) -> bool {
    mostly_zeros(k.count_nonzeros(x), x.len())
}

/// Whether `nonzeros` of `values` inputs make them mostly zeros (see
/// [`sparse_inputs`]).
pub(crate) fn mostly_zeros(nonzeros: usize, values: usize) -> bool {
    values > 0 && nonzeros as f64 <= MAX_DENSITY * values as f64
}

/// Columns per block when `threads` split a layer of `n` outputs run in
/// `mode`: one block per thread, whole panels of the mode's GEMM (weights
/// packed ahead are cut on them), never fewer than two panels; one block on
/// one thread or on the matrixmultiply path.
pub(crate) fn block_width(n: usize, threads: usize, mode: Mode) -> usize {
    let (path, (_, nr)) = (mode.path, mode.tile());
    if threads <= 1 || path == GemmPath::MatrixMultiply {
        return n.max(1);
    }
    n.div_ceil(threads).div_ceil(nr).max(2) * nr
}

/// The columns of a matrix in blocks of `width`, each with its first
/// column: work for [`Team::try_for_each`].
pub(crate) struct ColBlocks<'a> {
    c: MatMut<'a>,
    j0: usize,
    width: usize,
}

impl<'a> ColBlocks<'a> {
    /// The blocks of `c`, `width ≥ 1` columns each (the last may be fewer).
    pub(crate) fn new(c: MatMut<'a>, width: usize) -> Self {
        ColBlocks { c, j0: 0, width: width.max(1) }
    }
}

impl<'a> Split for ColBlocks<'a> {
    type Item = (MatMut<'a>, usize);
    fn len(&self) -> usize {
        self.c.cols().div_ceil(self.width)
    }
    fn split_at(self, i: usize) -> (Self, Self) {
        let at = (i * self.width).min(self.c.cols());
        let (l, r) = self.c.split_at_col(at);
        (ColBlocks { c: l, ..self }, ColBlocks { c: r, j0: self.j0 + at, width: self.width })
    }
    fn items(self) -> impl Iterator<Item = (MatMut<'a>, usize)> {
        let (mut rest, mut j0, width) = (Some(self.c), self.j0, self.width);
        std::iter::from_fn(move || {
            let c = rest.take().filter(|c| c.cols() > 0)?;
            let cols = c.cols();
            let (blk, tail) = c.split_at_col(width.min(cols));
            let item = (blk, j0);
            (rest, j0) = (Some(tail), j0 + item.0.cols());
            Some(item)
        })
    }
}

/// `blocks` zipped with their scratch: an error when there is less scratch
/// than blocks (which would leave blocks undone).
pub(crate) fn with_scratch<'a, 'b>(
    blocks: ColBlocks<'a>,
    scratch: &'b mut [GemmScratch],
) -> Result<(ColBlocks<'a>, &'b mut [GemmScratch])> {
    if scratch.len() < blocks.len() {
        return Err(Error::shape("GEMM scratch for column blocks", blocks.len(), scratch.len()));
    }
    Ok((blocks, scratch))
}

/// The forward pass of `inp.rows` rows: `h[l] = f(h[l-1]·W_l + b_l)` for
/// the hidden layers and, in `h[last]`, the output layer's logits `h·W_L`
/// (its bias is the head's to add). `h[l]` holds at least rows ×
/// sizes[l+1] values. With `inp.sparse` the first layer is
/// [`sparse_forward`], its rows cut across the team.
pub(crate) fn forward(h: &mut [Vec<f32>], inp: Input<'_>, net: &Net<'_>, work: &mut Work<'_, '_>) -> Result<()> {
    let (sizes, n, last) = (net.sizes, inp.rows, net.layers() - 1);
    for l in 0..=last {
        let (done, rest) = h.split_at_mut(l);
        let src = if l == 0 { &inp.x[..n * sizes[0]] } else { &done[l - 1][..n * sizes[l]] };
        let out = &mut rest[0][..n * sizes[l + 1]];
        let hidden = l < last;
        if inp.sparse && l == 0 {
            sparse_layer(out, src, net, work.team)?;
            continue;
        }
        let (bias, act, w) = (net.bias(l), hidden.then_some(net.activation), net.w(l)?);
        let blocks = ColBlocks::new(
            MatMut::new(out, n, sizes[l + 1])?,
            block_width(sizes[l + 1], work.team.threads(), net.mode),
        );
        let (src, scratch, team) = work.left(MatRef::new(src, n, sizes[l])?, &blocks, net.mode)?;
        team.try_for_each(with_scratch(blocks, scratch)?, |((blk, j0), s)| {
            let c = blk.cols();
            let b = if hidden { &bias[j0..j0 + c] } else { &[][..] };
            dense_forward(
                blk,
                src,
                ForwardParams { w: w.cols(j0, c)?, b, act },
                Engine { kernels: &net.kernels, scratch: s },
            )
        })?;
    }
    Ok(())
}

/// The first layer from mostly-zero inputs `x` ([`sparse_forward`]), its
/// rows cut across the team: a block of columns of its own would walk each
/// row's nonzeros again, with fewer accumulators. When the layer is hidden
/// the bias and activation follow; an output layer's logits are left bare.
fn sparse_layer(out: &mut [f32], x: &[f32], net: &Net<'_>, team: Team<'_>) -> Result<()> {
    let (w, hidden) = (net.weight(0)?, net.layers() > 1);
    let (i, o) = (w.rows(), w.cols());
    let (bias, act) = if hidden { (net.bias(0), Some(net.activation)) } else { (&[][..], None) };
    let per = (x.len() / i).div_ceil(team.threads()).max(1);
    team.try_for_each((ChunksMut::new(out, per * o), Chunks::new(x, per * i)), |(out, x)| {
        let r = x.len() / i;
        sparse_forward(MatMut::new(out, r, o)?, MatRef::new(x, r, i)?, ForwardParams { w, b: bias, act }, &net.kernels)
    })
}
