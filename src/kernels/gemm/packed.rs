//! Operands packed ahead, and how [`gemm`](super::gemm) takes its operands.
//!
//! Packing ahead is worth it when many calls (or many threads) share an
//! operand: a shard's δ as the B of every weight-gradient tile, a layer's
//! input as the A of every column block the threads split a layer into, the
//! [`Predictor`](crate::Predictor)'s weights. Otherwise the GEMM packs each
//! block of a strided view itself as its loop reaches it.

use super::pack::{self, AlignedBuf, Block, Panels};
use super::view::MatRef;
use super::{gemm_path, GemmPath, Layout, Mode, MC, NC};
use crate::error::{Error, Result};
use crate::exec::{ChunksMut, Team};

/// A read-only view of a [`PackedB`].
#[derive(Clone, Copy, Debug)]
pub struct PackedRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) k: usize,
    pub(super) n: usize,
    pub(super) mode: Mode,
}

impl<'a> PackedRef<'a> {
    /// Columns `j0..j0 + c` alone: `j0` on a panel boundary (a multiple of
    /// the path's NR), the columns inside the matrix. An error otherwise.
    pub fn cols(&self, j0: usize, c: usize) -> Result<PackedRef<'a>> {
        let nr = self.mode.tile().1;
        let inside = j0.checked_add(c).is_some_and(|end| end <= self.n);
        if !inside || !j0.is_multiple_of(nr) || (self.mode.path == GemmPath::MatrixMultiply && c != self.n) {
            let want = format!("whole panels of {nr} inside {} columns", self.n);
            return Err(Error::shape("packed B columns", want, format!("{j0}..{}", j0.saturating_add(c))));
        }
        let depth = self.mode.packing().depth(self.k);
        Ok(PackedRef { data: &self.data[j0 / nr * depth * nr..], n: c, ..*self })
    }
}

/// A `k × n` right-hand operand packed for one [`Mode`]: panels of `NR`
/// columns, each `k × NR` k-major (in bf16, `⌈k/2⌉` rows of pairs or `k`
/// rounded up to even rows: see [`bf16`](super::bf16)), the last
/// zero-padded. Packing again at the same or a smaller size reuses the
/// buffer.
#[derive(Default)]
pub struct PackedB {
    buf: AlignedBuf,
    k: usize,
    n: usize,
    mode: Option<Mode>,
}

/// Groups of `per` units of `unit` values each, at least one group per
/// thread of the team and about 64 Ki values a group: how a packing is cut
/// into tasks.
fn per_task(units: usize, unit: usize, team: Team<'_>) -> usize {
    let by_size = (1 << 16) / unit.max(1) + 1;
    let by_threads = units.div_ceil(team.threads());
    by_size.min(by_threads).max(1)
}

impl PackedB {
    /// An empty packed operand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packs `b` for `mode` (a [`GemmPath`] packs for f32). Errors
    /// (leaving it unpacked) when the buffer cannot be allocated or the
    /// mode cannot run here.
    pub fn pack(&mut self, b: MatRef<'_>, mode: impl Into<Mode>) -> Result<()> {
        self.pack_on(b, mode.into(), Team::alone())
    }

    /// [`pack`](Self::pack), its panels split across `team`.
    pub(crate) fn pack_on(&mut self, b: MatRef<'_>, mode: Mode, team: Team<'_>) -> Result<()> {
        let Layout { nr, tr, packing, plain, .. } = mode.layout().inspect_err(|_| self.mode = None)?;
        let panels = if plain { b.cols } else { b.cols.div_ceil(nr) * nr };
        let depth = packing.depth(b.rows);
        let len = depth.checked_mul(panels).ok_or_else(|| Error::shape("packed B", "k·n to fit", "overflow"))?;
        self.mode = None;
        self.buf.resize(len)?;
        let p = Panels { width: nr, tr, packing };
        if plain {
            pack::copy_row_major(self.buf.as_mut_slice(), &b);
        } else if team.threads() > 1 && b.rows > 0 {
            let per = per_task(b.cols.div_ceil(nr), depth * nr, team);
            let groups = ChunksMut::new(self.buf.as_mut_slice(), per * depth * nr);
            team.for_each((0..groups.len(), groups), |(i, dst)| {
                let j0 = i * per * nr;
                let block = Block { first: j0, count: (b.cols - j0).min(per * nr), k0: 0, kc: b.rows };
                pack::pack_b_block(dst, &b, block, p);
            });
        } else {
            let block = Block { first: 0, count: b.cols, k0: 0, kc: b.rows };
            pack::pack_b_block(self.buf.as_mut_slice(), &b, block, p);
        }
        (self.k, self.n, self.mode) = (b.rows, b.cols, Some(mode));
        Ok(())
    }

    /// A view of the whole packed matrix, or `None` before the first pack.
    pub fn view(&self) -> Option<PackedRef<'_>> {
        self.mode.map(|mode| PackedRef { data: self.buf.as_slice(), k: self.k, n: self.n, mode })
    }

    /// The mode it was last packed for (`None` before the first pack).
    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// Rows (k) of the packed matrix.
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns (n) of the packed matrix.
    pub fn cols(&self) -> usize {
        self.n
    }
}

/// A read-only view of a [`PackedA`].
#[derive(Clone, Copy, Debug)]
pub struct PackedARef<'a> {
    pub(super) data: &'a [f32],
    pub(super) m: usize,
    pub(super) k: usize,
    pub(super) mode: Mode,
}

impl<'a> PackedARef<'a> {
    /// The packed rows `i0..` (a multiple of MR) of depth block `pc` (a
    /// multiple of KC): the panels the blocked loop reads for that block.
    pub(super) fn block(&self, i0: usize, pc: usize, mr: usize) -> &'a [f32] {
        let (m_pad, kc, p) = (self.m.div_ceil(mr) * mr, self.mode.packing().kc().min(self.k - pc), self.mode.packing());
        &self.data[p.depth(pc) * m_pad + (i0 / mr) * p.depth(kc) * mr..]
    }
}

/// An `m × k` left-hand operand packed for one [`Mode`] as the blocked
/// loop reads A: for each depth block of `KC` (the last shorter), panels of
/// `MR` rows, each `kc × MR` k-major (bf16 as in [`PackedB`]), the last
/// zero-padded. Packing it once lets every thread of a layer share it.
#[derive(Default)]
pub struct PackedA {
    buf: AlignedBuf,
    m: usize,
    k: usize,
    mode: Option<Mode>,
}

impl PackedA {
    /// An empty packed operand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packs `a` for `mode` (a [`GemmPath`] packs for f32). Errors
    /// (leaving it unpacked) when the buffer cannot be allocated or the
    /// mode cannot run here.
    pub fn pack(&mut self, a: MatRef<'_>, mode: impl Into<Mode>) -> Result<()> {
        self.pack_on(a, mode.into(), Team::alone())
    }

    /// [`pack`](Self::pack), each depth block's panels split across `team`.
    pub(crate) fn pack_on(&mut self, a: MatRef<'_>, mode: Mode, team: Team<'_>) -> Result<()> {
        let Layout { mr, tr, packing, plain, .. } = mode.layout().inspect_err(|_| self.mode = None)?;
        let m_pad = if plain { a.rows } else { a.rows.div_ceil(mr) * mr };
        let len = m_pad.checked_mul(packing.depth(a.cols));
        let len = len.ok_or_else(|| Error::shape("packed A", "m·k to fit", "overflow"))?;
        self.mode = None;
        self.buf.resize(len)?;
        if plain {
            pack::copy_row_major(self.buf.as_mut_slice(), &a);
        } else {
            let mut rest = self.buf.as_mut_slice();
            for pc in (0..a.cols).step_by(packing.kc()) {
                let (kc, p) = (packing.kc().min(a.cols - pc), Panels { width: mr, tr, packing });
                let (block, tail) = rest.split_at_mut(packing.depth(kc) * m_pad);
                rest = tail;
                let per = per_task(m_pad / mr, packing.depth(kc) * mr, team);
                let groups = ChunksMut::new(block, per * packing.depth(kc) * mr);
                team.for_each((0..groups.len(), groups), |(g, dst)| {
                    let i0 = g * per * mr;
                    let block = Block { first: i0, count: (a.rows - i0).min(per * mr), k0: pc, kc };
                    pack::pack_a(dst, &a, block, p);
                });
            }
        }
        (self.m, self.k, self.mode) = (a.rows, a.cols, Some(mode));
        Ok(())
    }

    /// A view of the packed matrix, or `None` before the first pack.
    pub fn view(&self) -> Option<PackedARef<'_>> {
        self.mode.map(|mode| PackedARef { data: self.buf.as_slice(), m: self.m, k: self.k, mode })
    }
}

/// Per-caller workspace for packing blocks of A (and of B when B comes as a
/// strided view): one per thread or task, grown on first use and reused
/// after.
#[derive(Default)]
pub struct GemmScratch {
    pub(super) a: AlignedBuf,
    pub(super) b: AlignedBuf,
}

impl GemmScratch {
    /// An empty scratch; it grows to what a call needs (at most `MC` rows
    /// of A and `NC` columns of B, each a depth block of the call's mode
    /// deep) on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scratch already as large as any call in `mode` needs, so that it
    /// never allocates again; an error when the memory cannot be had.
    pub fn full(mode: Mode) -> Result<Self> {
        let mut s = Self::for_packed_b(mode)?;
        s.b.resize(block_depth(mode) * NC)?;
        Ok(s)
    }

    /// A scratch as large as any call in `mode` whose B comes packed ahead
    /// needs (it packs blocks of A only).
    pub fn for_packed_b(mode: Mode) -> Result<Self> {
        let mut s = Self::default();
        s.a.resize(MC * block_depth(mode))?;
        Ok(s)
    }
}

/// Panel rows of a whole depth block in `mode`.
fn block_depth(mode: Mode) -> usize {
    let p = mode.packing();
    p.depth(p.kc())
}

/// The left-hand operand as the blocked loop reads it.
#[derive(Clone, Copy)]
pub(super) enum ASource<'a> {
    /// A view, packed per block.
    Strided(MatRef<'a>),
    /// Packed ahead for a path.
    Packed(PackedARef<'a>),
}

impl ASource<'_> {
    /// `(m, k)`.
    pub(super) fn dims(&self) -> (usize, usize) {
        match self {
            ASource::Strided(v) => (v.rows, v.cols),
            ASource::Packed(p) => (p.m, p.k),
        }
    }
}

/// The left-hand operand of [`gemm`](super::gemm): a strided view (packed
/// block by block inside the call) or packed ahead ([`PackedA`], `None` when
/// it was never packed).
#[derive(Clone, Copy)]
pub struct AOperand<'a>(pub(super) Option<ASource<'a>>);

impl<'a> From<MatRef<'a>> for AOperand<'a> {
    fn from(a: MatRef<'a>) -> Self {
        AOperand(Some(ASource::Strided(a)))
    }
}

impl<'a> From<&'a PackedA> for AOperand<'a> {
    fn from(a: &'a PackedA) -> Self {
        AOperand(a.view().map(ASource::Packed))
    }
}

impl<'a> From<PackedARef<'a>> for AOperand<'a> {
    fn from(a: PackedARef<'a>) -> Self {
        AOperand(Some(ASource::Packed(a)))
    }
}

/// The right-hand operand as the blocked loop reads it.
#[derive(Clone, Copy)]
pub(super) enum BSource<'b> {
    /// Panels of `k × NR`, k-major, for all of B's columns.
    Packed(PackedRef<'b>),
    /// A view, packed per block.
    Strided(MatRef<'b>),
}

impl BSource<'_> {
    /// `(k, n)`.
    pub(super) fn dims(&self) -> (usize, usize) {
        match self {
            BSource::Packed(p) => (p.k, p.n),
            BSource::Strided(v) => (v.rows, v.cols),
        }
    }
}

/// The right-hand operand of [`gemm`](super::gemm) and the mode it runs in:
/// packed ahead (from a [`PackedB`], `None` when it was never packed, or a
/// [`PackedRef`]), or a strided view packed as the loop goes.
pub struct BOperand<'b>(pub(super) Option<(BSource<'b>, Mode)>);

impl<'b> BOperand<'b> {
    /// A strided view, run in `mode` (a [`GemmPath`] runs f32; the
    /// `From<MatRef>` conversion uses the process's [`gemm_path`] in f32).
    pub fn strided(b: MatRef<'b>, mode: impl Into<Mode>) -> Self {
        BOperand(Some((BSource::Strided(b), mode.into())))
    }
}

impl<'b> From<&'b PackedB> for BOperand<'b> {
    fn from(b: &'b PackedB) -> Self {
        BOperand(b.view().map(|p| (BSource::Packed(p), p.mode)))
    }
}

impl<'b> From<PackedRef<'b>> for BOperand<'b> {
    fn from(b: PackedRef<'b>) -> Self {
        BOperand(Some((BSource::Packed(b), b.mode)))
    }
}

impl<'b> From<MatRef<'b>> for BOperand<'b> {
    fn from(b: MatRef<'b>) -> Self {
        BOperand::strided(b, gemm_path())
    }
}
