//! The network as the passes read it, below both training and inference:
//! its sizes, activation and flat parameters, with the weights as the
//! GEMM's operands ([`Weight`]), and the forward pass over a block of rows
//! ([`forward`]).
//!
//! Each weight is packed once per step, for every shard: when a step runs
//! several shards, a trainer packs `W` and `Wᵀ` of every layer ahead
//! ([`PackedWeights`]) and every shard reads them; with one shard, the
//! GEMM packs each block of `W` as it reaches it, into cache, once (the
//! threads that split a layer's columns each pack their own columns). A
//! predictor packs `W` once per model.

mod forward;

pub(crate) use forward::{block_width, forward, mostly_zeros, sparse_inputs, with_scratch, ColBlocks, Input, Work};

use crate::error::Result;
use crate::exec::Team;
use crate::kernels::gemm::{BOperand, MatRef, Mode, PackedB, PackedRef};
use crate::kernels::Kernels;
use crate::layers::Activation;
use crate::layout::layer_ranges;
use crate::mem::vec_of;

/// Every layer's `W` packed as the GEMM's right-hand operand (forward:
/// `h·W`), and, for training, `Wᵀ` of every layer but the first (the input
/// gradient: `δ·Wᵀ`), in one GEMM mode.
pub(crate) struct PackedWeights {
    w: Vec<PackedB>,
    /// Empty for a forward-only network; else `wt[l]` for `l ≥ 1`
    /// (`wt[0]` stays empty: the inputs need no gradient).
    wt: Vec<PackedB>,
    mode: Mode,
}

impl PackedWeights {
    /// Room for a network of `layers` layers in `mode`; with `transposed`,
    /// for `Wᵀ` too. Nothing is packed yet.
    pub(crate) fn new(layers: usize, transposed: bool, mode: Mode) -> Result<PackedWeights> {
        let wt = if transposed { layers } else { 0 };
        Ok(PackedWeights {
            w: vec_of(layers, "packed weights", || Ok(PackedB::new()))?,
            wt: vec_of(wt, "packed weights", || Ok(PackedB::new()))?,
            mode,
        })
    }

    /// Packs every layer's `W` (and `Wᵀ`, when made for it) of a network
    /// of `sizes` whose parameters are `params`, each packing split across
    /// `team`.
    pub(crate) fn pack(&mut self, sizes: &[usize], params: &[f32], team: Team<'_>) -> Result<()> {
        for (l, p) in self.w.iter_mut().enumerate() {
            p.pack_on(weight(sizes, params, l)?, self.mode, team)?;
        }
        for (l, p) in self.wt.iter_mut().enumerate().skip(1) {
            p.pack_on(weight(sizes, params, l)?.t(), self.mode, team)?;
        }
        Ok(())
    }
}

/// Layer `l`'s `W` as it lies in `params` (in × out, row-major).
fn weight<'a>(sizes: &[usize], params: &'a [f32], l: usize) -> Result<MatRef<'a>> {
    MatRef::new(&params[layer_ranges(sizes, l).0], sizes[l], sizes[l + 1])
}

/// A network as the passes read it.
pub(crate) struct Net<'a> {
    /// Layer sizes, inputs first.
    pub sizes: &'a [usize],
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The flat parameters ([`layout`](crate::layout)): the biases, and the
    /// first layer's `W` as it lies, for inputs that are mostly zeros.
    pub params: &'a [f32],
    /// The weights packed from `params`, when they were packed ahead
    /// (`None`: the GEMM packs blocks of `W` as it reaches them).
    pub packed: Option<&'a PackedWeights>,
    /// The elementwise kernels.
    pub kernels: Kernels,
    /// The GEMM mode of every product.
    pub mode: Mode,
}

impl<'a> Net<'a> {
    /// The number of layers.
    pub(crate) fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Layer `l`'s biases.
    pub(crate) fn bias(&self, l: usize) -> &'a [f32] {
        &self.params[layer_ranges(self.sizes, l).1]
    }

    /// Layer `l`'s `W` as it lies (in × out, row-major).
    pub(crate) fn weight(&self, l: usize) -> Result<MatRef<'a>> {
        weight(self.sizes, self.params, l)
    }

    /// Layer `l`'s `W` as the forward GEMM's operand.
    pub(crate) fn w(&self, l: usize) -> Result<Weight<'a>> {
        match self.packed {
            Some(p) => packed(&p.w, l).map(Weight::Packed),
            None => self.weight(l).map(|w| Weight::View(w, self.mode)),
        }
    }

    /// Layer `l`'s `Wᵀ` as the input gradient's operand (`l ≥ 1`; packed
    /// ahead only for training).
    pub(crate) fn wt(&self, l: usize) -> Result<Weight<'a>> {
        match self.packed {
            Some(p) => packed(&p.wt, l).map(Weight::Packed),
            None => self.weight(l).map(|w| Weight::View(w.t(), self.mode)),
        }
    }
}

/// A layer's `W` or `Wᵀ` as a GEMM's right-hand operand: packed ahead, or
/// a view that the GEMM packs block by block in a mode.
#[derive(Clone, Copy)]
pub(crate) enum Weight<'a> {
    Packed(PackedRef<'a>),
    View(MatRef<'a>, Mode),
}

impl<'a> Weight<'a> {
    /// Columns `j0..j0 + c` (a block's, starting on a panel boundary).
    pub(crate) fn cols(&self, j0: usize, c: usize) -> Result<BOperand<'a>> {
        match self {
            Weight::Packed(p) => Ok(p.cols(j0, c)?.into()),
            Weight::View(v, mode) => Ok(BOperand::strided(v.cols_range(j0, c), *mode)),
        }
    }
}

/// `p[l]`'s view, or an error when it was never packed.
fn packed(p: &[PackedB], l: usize) -> Result<PackedRef<'_>> {
    p.get(l)
        .and_then(PackedB::view)
        .ok_or_else(|| crate::Error::config("packed weights", format!("layer {l} was never packed")))
}
