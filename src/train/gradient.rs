//! The batch's gradient, in one order fixed by the arithmetic:
//!
//! ```text
//! ∂E/∂W_l[i][j] = Σ_r h_{l-1}[r][i]·δ_l[r][j]    one chain of multiply-adds over the batch's rows r in order
//! ∂E/∂b_l[j]    = Σ_r δ_l[r][j]                  one chain of additions over the rows in order
//! ```
//!
//! The rows live in shards (and, across ranks, in processes); a tile of
//! `∂E/∂W` runs the first shard's product into it and continues the chain
//! over each next shard's rows ([`gemm`](crate::kernels::gemm::gemm) with
//! `accumulate`), so the bits are those of one product over the whole
//! batch, whatever the cut. The global norm `Σ g²` is summed over the
//! tiles in a fixed order too ([`SquaredNorm`]).

use super::shard::{Batch, Shard};
use crate::error::Result;
use crate::exec::{ChunksMut, Team};
use crate::kernels::gemm::{copy_rows, GemmScratch, MatRef, Mode, Strides};
use crate::kernels::Kernels;
use crate::layers::{dense_grad, sparse_grad, GradBlock};
use crate::layout::layer_ranges;
use crate::mem::{product, vec_of, zeros};
use std::ops::Range;

/// Rows of `∂E/∂W` per tile task.
pub(crate) const TILE_ROWS: usize = 96;

/// One tile task's workspace: packing space, room for a tile's inputs as
/// rows ([`sparse_grad`]), and the squared norm of the tile it last
/// computed.
pub(crate) struct TileWork {
    scratch: GemmScratch,
    rows: Vec<f32>,
    sq: f64,
}

impl TileWork {
    /// A workspace for sparse inputs of shards of up to `shard_rows` rows
    /// (0: for tiles past the first layer's, which never read them).
    fn new(shard_rows: usize, mode: Mode) -> Result<TileWork> {
        let rows = zeros(product(TILE_ROWS, shard_rows, "gradient tile inputs")?, "gradient tile inputs")?;
        Ok(TileWork { scratch: GemmScratch::for_packed_b(mode)?, rows, sq: 0.0 })
    }
}

/// The tile workspaces of a network of `sizes`: as many as its widest
/// layer input has tiles; only the first layer's tiles may read sparse
/// inputs, so only they get room for a tile's inputs as rows.
pub(crate) fn tile_work(sizes: &[usize], shard_rows: usize, mode: Mode) -> Result<Vec<TileWork>> {
    let needed = sizes[..sizes.len() - 1].iter().map(|s| s.div_ceil(TILE_ROWS)).max().unwrap_or(1);
    let (first, mut t) = (sizes[0].div_ceil(TILE_ROWS), 0);
    vec_of(needed, "gradient tiles", || {
        t += 1;
        TileWork::new(if t <= first { shard_rows } else { 0 }, mode)
    })
}

/// A run of tiles of one layer's gradient: the unit one message carries
/// between ranks; a whole layer in one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub layer: usize,
    /// Tiles of `TILE_ROWS` rows of `∂E/∂W`.
    pub tiles: Range<usize>,
    /// Whether the layer's bias gradient follows (the last segment of a
    /// layer).
    pub bias: bool,
}

impl Segment {
    /// Where the segment lies in the gradient, laid out like the
    /// parameters (a layer's bias follows its weights).
    pub(crate) fn range(&self, sizes: &[usize]) -> Range<usize> {
        let (wr, br) = layer_ranges(sizes, self.layer);
        let out = sizes[self.layer + 1];
        let r0 = self.tiles.start * TILE_ROWS;
        (wr.start + r0 * out)..if self.bias { br.end } else { wr.start + (r0 + self.weight_rows(sizes)) * out }
    }

    /// Rows of `∂E/∂W` the segment's tiles cover (the last tile of a layer
    /// may be short); its weights are the first `weight_rows · out` values
    /// of its range, its bias (when it has one) the rest.
    pub(crate) fn weight_rows(&self, sizes: &[usize]) -> usize {
        (self.tiles.end * TILE_ROWS).min(sizes[self.layer]) - self.tiles.start * TILE_ROWS
    }
}

/// The gradient's segments, layer by layer from the last (the order
/// backward finishes them in), each at most `max_floats` weights but at
/// least one tile.
pub(crate) fn segments(sizes: &[usize], max_floats: usize) -> impl Iterator<Item = Segment> + '_ {
    (0..sizes.len() - 1).rev().flat_map(move |layer| {
        let tiles = sizes[layer].div_ceil(TILE_ROWS);
        let per = (max_floats / (TILE_ROWS * sizes[layer + 1])).clamp(1, tiles);
        (0..tiles.div_ceil(per)).map(move |c| Segment {
            layer,
            tiles: c * per..((c + 1) * per).min(tiles),
            bias: (c + 1) * per >= tiles,
        })
    })
}

/// What this process's terms of the gradient come from: its shards of the
/// batch.
pub(crate) struct Terms<'a> {
    pub shards: &'a [Shard],
    pub batch: Batch<'a>,
    pub sizes: &'a [usize],
    /// Whether the inputs are mostly zeros ([`sparse_grad`] for the first
    /// layer).
    pub sparse: bool,
    pub kernels: Kernels,
}

/// How a segment's terms are computed: the tile workspaces, where its
/// squares go (when this process finishes the segment), and the team.
pub(crate) struct TermWork<'a, 't> {
    pub tiles: &'a mut [TileWork],
    pub norm: Option<&'a mut SquaredNorm>,
    pub team: Team<'t>,
}

/// A segment of the gradient being summed: `g`, its slice of the
/// gradient, holds the sums of the rows before this process's (from
/// another rank) when `onto`.
pub(crate) struct SegmentSum<'a> {
    pub g: &'a mut [f32],
    pub seg: &'a Segment,
    pub onto: bool,
}

/// Adds this process's terms of a segment of `∂E/∂θ` to its sum: each
/// value's chain continues from what the sum holds when `onto`, and starts
/// from zero otherwise. The tiles run across the team; each tile's squares
/// are noted in `work.norm`, when there is one, while the tile is in cache.
pub(crate) fn add_terms(sum: SegmentSum<'_>, terms: &Terms<'_>, work: TermWork<'_, '_>) -> Result<()> {
    let SegmentSum { g, seg, onto } = sum;
    let (sizes, l, k) = (terms.sizes, seg.layer, &terms.kernels);
    let out = sizes[l + 1];
    let (gw, gb) = g.split_at_mut(seg.weight_rows(sizes) * out);
    let squares = work.norm.is_some();
    let tiles = ChunksMut::new(gw, TILE_ROWS * out);
    let n = tiles.len();
    work.team.try_for_each((0..n, (tiles, &mut work.tiles[..n])), |(i, (tile, w))| {
        tile_terms(Tile { g: &mut *tile, r0: (seg.tiles.start + i) * TILE_ROWS, layer: l, onto }, terms, w)?;
        w.sq = if squares { k.sum_squares(tile) } else { 0.0 };
        Ok::<(), crate::Error>(())
    })?;
    if seg.bias {
        if !onto {
            gb.fill(0.0);
        }
        for sh in terms.shards {
            k.col_sums(gb, &sh.delta[l][..sh.rows.len() * out])?;
        }
    }
    if let Some(norm) = work.norm {
        norm.tiles(l, seg.tiles.start, work.tiles[..n].iter().map(|w| w.sq));
        if seg.bias {
            norm.bias(l, k.sum_squares(gb));
        }
    }
    Ok(())
}

/// One tile of a layer's `∂E/∂W`: its rows `r0..` (whole rows of `W`).
struct Tile<'a> {
    g: &'a mut [f32],
    r0: usize,
    layer: usize,
    onto: bool,
}

/// A tile's terms, shard after shard, each continuing the chain (the first
/// from zero unless `onto`).
fn tile_terms(tile: Tile<'_>, terms: &Terms<'_>, w: &mut TileWork) -> Result<()> {
    let Tile { g: tile, r0, layer: l, onto } = tile;
    let (inn, out) = (terms.sizes[l], terms.sizes[l + 1]);
    let tr = tile.len() / out;
    for (s, sh) in terms.shards.iter().enumerate() {
        let n = sh.rows.len();
        let accumulate = onto || s > 0;
        let src = if l == 0 { sh.input(&terms.batch) } else { &sh.h[l - 1][..n * inn] };
        // Rows r0..r0+tr of srcᵀ, by strides.
        let a = MatRef::with_strides(&src[r0..], tr, n, Strides { row: 1, col: inn })?;
        let g = GradBlock { dw: &mut *tile, accumulate };
        if l == 0 && terms.sparse {
            let dout = MatRef::new(&sh.delta[0][..n * out], n, out)?;
            copy_rows(&mut w.rows, &a)?;
            sparse_grad(g, MatRef::new(&w.rows[..tr * n], tr, n)?, dout, &terms.kernels)?;
        } else {
            dense_grad(g, a, &sh.packed_delta[l], &mut w.scratch)?;
        }
    }
    Ok(())
}

/// The squared global norm `Σ g²`, in one fixed order whatever order the
/// tiles were computed in: the squares of each layer's weight tiles folded
/// left to right in f64, then, layer by layer from the first, that layer's
/// sum added to the total, then its bias squares.
pub(crate) struct SquaredNorm {
    /// Each weight tile's squares, layer after layer.
    tiles: Vec<f64>,
    /// Where each layer's tiles start in `tiles`, and where the last ends.
    starts: Vec<usize>,
    /// Each layer's bias squares.
    bias: Vec<f64>,
}

impl SquaredNorm {
    /// Room for the layers of a network of `sizes`, all zero.
    pub(crate) fn new(sizes: &[usize]) -> Result<SquaredNorm> {
        let layers = sizes.len() - 1;
        let mut starts = vec_of(layers + 1, "gradient norms", || Ok(0))?;
        for l in 0..layers {
            starts[l + 1] = starts[l] + sizes[l].div_ceil(TILE_ROWS);
        }
        Ok(SquaredNorm {
            tiles: zeros(starts[layers], "gradient norms")?,
            bias: zeros(layers, "gradient norms")?,
            starts,
        })
    }

    /// Zeroes every layer, for the next step.
    pub(crate) fn clear(&mut self) {
        self.tiles.fill(0.0);
        self.bias.fill(0.0);
    }

    /// The squares of layer `l`'s weight tiles from tile `first` on.
    pub(crate) fn tiles(&mut self, l: usize, first: usize, tiles: impl Iterator<Item = f64>) {
        let layer = &mut self.tiles[self.starts[l]..self.starts[l + 1]];
        layer[first..].iter_mut().zip(tiles).for_each(|(t, sq)| *t = sq);
    }

    /// The squares of a finished segment `g` of the gradient (of a network
    /// of `sizes`), tile by tile and its bias: the same values
    /// [`add_terms`] notes for the process that finishes the segment.
    pub(crate) fn note_segment(&mut self, g: &[f32], seg: &Segment, sizes: &[usize], k: &Kernels) {
        let (l, out) = (seg.layer, sizes[seg.layer + 1]);
        let (gw, gb) = g.split_at(seg.weight_rows(sizes) * out);
        self.tiles(l, seg.tiles.start, gw.chunks(TILE_ROWS * out).map(|t| k.sum_squares(t)));
        if seg.bias {
            self.bias(l, k.sum_squares(gb));
        }
    }

    /// Layer `l`'s bias squares sum to `bias`.
    pub(crate) fn bias(&mut self, l: usize, bias: f64) {
        self.bias[l] = bias;
    }

    /// `Σ g²` over every layer.
    pub(crate) fn total(&self) -> f64 {
        (0..self.bias.len()).fold(0.0, |total, l| {
            let w = self.tiles[self.starts[l]..self.starts[l + 1]].iter().fold(0.0, |acc, &t| acc + t);
            (total + w) + self.bias[l]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_norm_does_not_depend_on_the_order_its_tiles_come_in() {
        let sizes: [usize; 3] = [300, 200, 10];
        let tiles: Vec<usize> = sizes[..2].iter().map(|s| s.div_ceil(TILE_ROWS)).collect();
        // Sums that change with their order: a large first tile (its
        // fold from the last tile is 1e16 + 2 or + 4, from the first 1e16).
        let value = |_: usize, t: usize| if t == 0 { 1e16 } else { 1.0 };
        let mut forward = SquaredNorm::new(&sizes).unwrap();
        let mut backward = SquaredNorm::new(&sizes).unwrap();
        for (l, &n) in tiles.iter().enumerate() {
            forward.tiles(l, 0, (0..n).map(|t| value(l, t)));
            forward.bias(l, 0.5 * l as f64);
        }
        for (l, &n) in tiles.iter().enumerate().rev() {
            for t in (0..n).rev() {
                backward.tiles(l, t, std::iter::once(value(l, t)));
            }
            backward.bias(l, 0.5 * l as f64);
        }
        let fold = tiles.iter().enumerate().fold(0.0, |total: f64, (l, &n)| {
            let w = (0..n).fold(0.0, |acc, t| acc + value(l, t));
            (total + w) + 0.5 * l as f64
        });
        assert_eq!(forward.total().to_bits(), fold.to_bits());
        assert_eq!(backward.total().to_bits(), fold.to_bits());
    }

    #[test]
    fn segments_cover_the_gradient_once_last_layer_first() {
        let sizes = [784, 1024, 1024, 10];
        let n = crate::layout::count_params(&sizes).unwrap();
        for max in [1, 5000, 100_000, usize::MAX] {
            let segs: Vec<Segment> = segments(&sizes, max).collect();
            let layers: Vec<usize> = segs.iter().map(|s| s.layer).collect();
            assert!(layers.windows(2).all(|w| w[0] >= w[1]), "{layers:?}");
            let mut ranges: Vec<Range<usize>> = segs.iter().map(|s| s.range(&sizes)).collect();
            ranges.sort_by_key(|r| r.start);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "max {max}");
            assert_eq!(ranges.last().map(|r| r.end), Some(n));
        }
    }
}
