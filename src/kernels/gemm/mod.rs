//! The one GEMM: `C ← A·B (+ C)`, f32, cache-blocked with packed operands
//! and a register-tiled microkernel chosen at run time.
//!
//! Operands are views with strides ([`MatRef`]), so a transpose is a swap of
//! strides ([`MatRef::t`]), never a copy. The safe entry points check every
//! length against the dimensions and strides once, then run the blocked loop.
//! `B` is packed once into a [`PackedB`] (a layer's weights, reused by every
//! shard of a step); `A` is packed block by block into the caller's
//! [`GemmScratch`], so a call allocates nothing.
//!
//! Paths ([`GemmPath`]): our AVX-512 (12×32 tile) and AVX2 (6×16) kernels,
//! a portable 4×16 kernel, and `matrixmultiply::sgemm` (bluss), kept as an
//! independent implementation for comparison: it allocates its packing
//! buffers on every call, which a training step must not do, so it is never
//! the default. `BACKPROP_GEMM=avx512|avx2|portable|matrixmultiply` forces
//! one; by default the path follows [`simd_path`](super::simd_path).

mod micro;
mod pack;
mod transpose;

pub(crate) use pack::AlignedBuf;

use super::SimdPath;
use crate::error::{Error, Result};
use micro::KernelFn;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// Depth of a packed block: `KC` values of k per pass over C.
const KC: usize = 256;
/// Rows of A packed at a time (a multiple of every kernel's MR: 12, 6, 4).
/// 264 rows hold a whole 256-row shard, so that each panel of B is streamed
/// once per k block and serves 22 tiles (measured against 96 on the XL
/// layer 256×4096×4096: 104-113 vs 95-101 GFLOP/s).
const MC: usize = 264;
/// Columns of B swept per packed block of A.
const NC: usize = 1024;

/// A read-only matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// The index one past the last element a `rows × cols` view with these
/// strides touches, or `None` on overflow.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` view of `data` (which must hold exactly
    /// `rows·cols` values).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        let n =
            rows.checked_mul(cols).ok_or_else(|| Error::shape("matrix", "rows·cols to fit in usize", "overflow"))?;
        if data.len() != n {
            return Err(Error::shape("matrix data", format!("{rows}×{cols} = {n} values"), data.len()));
        }
        Ok(MatRef { data, rows, cols, rs: cols, cs: 1 })
    }

    /// A view with explicit row and column strides; `data` must hold every
    /// element the strides reach.
    pub fn with_strides(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        match extent(rows, cols, rs, cs) {
            Some(e) if e <= data.len() => Ok(MatRef { data, rows, cols, rs, cs }),
            _ => Err(Error::shape(
                "strided matrix data",
                format!(
                    "at least {} values for {rows}×{cols} with strides ({rs}, {cs})",
                    extent(rows, cols, rs, cs).unwrap_or(usize::MAX)
                ),
                data.len(),
            )),
        }
    }

    /// The transpose, by swapping strides.
    pub fn t(self) -> MatRef<'a> {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns `j0..j0+cols` (clamped to the width) as a view.
    pub fn cols_range(&self, j0: usize, cols: usize) -> MatRef<'a> {
        let j0 = j0.min(self.cols);
        let cols = cols.min(self.cols - j0);
        let off = if cols == 0 || self.rows == 0 { 0 } else { j0 * self.cs };
        MatRef { data: &self.data[off.min(self.data.len())..], rows: self.rows, cols, rs: self.rs, cs: self.cs }
    }

    /// Row `i` as a slice, when the columns are contiguous (`cs == 1`).
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        (i < self.rows && self.cs == 1).then(|| &self.data[i * self.rs..i * self.rs + self.cols])
    }

    /// Element (i, j), or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.data[i * self.rs + j * self.cs])
    }
}

/// A mutable row-major view: element (i, j) sits `i·rs + j` values past the
/// start, `rs ≥ cols` so that no two elements alias. Like `&mut [f32]` it is
/// exclusive; [`split_at_col`](Self::split_at_col) cuts it into two views of
/// disjoint columns, which may then be written from different threads.
#[derive(Debug)]
pub struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: a MatMut is an exclusive borrow of its elements, like `&mut [f32]`
// (which is Send); split views cover disjoint elements.
unsafe impl Send for MatMut<'_> {}

impl<'a> MatMut<'a> {
    /// A row-major `rows × cols` view of `data` (exactly `rows·cols` values).
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        let n =
            rows.checked_mul(cols).ok_or_else(|| Error::shape("matrix", "rows·cols to fit in usize", "overflow"))?;
        if data.len() != n {
            return Err(Error::shape("output matrix data", format!("{rows}×{cols} = {n} values"), data.len()));
        }
        Ok(MatMut { ptr: data.as_mut_ptr(), rows, cols, rs: cols, _data: PhantomData })
    }

    /// A view whose rows start `rs ≥ cols` values apart.
    pub fn with_row_stride(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Result<Self> {
        match extent(rows, cols, rs, 1) {
            Some(e) if rs >= cols && e <= data.len() => {
                Ok(MatMut { ptr: data.as_mut_ptr(), rows, cols, rs, _data: PhantomData })
            }
            _ => Err(Error::shape(
                "output matrix data",
                format!("{rows}×{cols} with row stride {rs} ≥ {cols}"),
                data.len(),
            )),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns `..j` and `j..` as two views (`j` is clamped to the width).
    pub fn split_at_col(self, j: usize) -> (MatMut<'a>, MatMut<'a>) {
        let j = j.min(self.cols);
        // SAFETY: j ≤ cols, so the right view starts inside (or one past the
        // end of) each row; the views cover columns [0, j) and [j, cols) of
        // the same rows, which are disjoint.
        let right = unsafe { self.ptr.add(j) };
        (
            MatMut { ptr: self.ptr, rows: self.rows, cols: j, rs: self.rs, _data: PhantomData },
            MatMut { ptr: right, rows: self.rows, cols: self.cols - j, rs: self.rs, _data: PhantomData },
        )
    }

    /// A shorter-lived view of the same elements.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut { ptr: self.ptr, rows: self.rows, cols: self.cols, rs: self.rs, _data: PhantomData }
    }

    /// Row `i` (the view's columns of it), or `None` past the last row.
    pub fn row_mut(&mut self, i: usize) -> Option<&mut [f32]> {
        // SAFETY: row i < rows holds `cols` values starting i·rs past ptr,
        // inside the borrowed data; `&mut self` makes the slice exclusive.
        (i < self.rows).then(|| unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.rs), self.cols) })
    }
}

/// A read-only view of a [`PackedB`].
#[derive(Clone, Copy, Debug)]
pub struct PackedRef<'a> {
    data: &'a [f32],
    k: usize,
    n: usize,
    path: GemmPath,
}

impl<'a> PackedRef<'a> {
    /// Rows (k).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns (n).
    pub fn cols(&self) -> usize {
        self.n
    }
}

/// Which GEMM implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmPath {
    /// Our AVX-512 microkernel (12 × 32 tile).
    Avx512,
    /// Our AVX2+FMA microkernel (6 × 16 tile).
    Avx2,
    /// Our portable microkernel (4 × 16 tile, compiler-vectorised).
    Portable,
    /// `matrixmultiply::sgemm`, for comparison (allocates on every call).
    MatrixMultiply,
}

impl GemmPath {
    /// Every path.
    pub const ALL: [GemmPath; 4] = [GemmPath::Avx512, GemmPath::Avx2, GemmPath::Portable, GemmPath::MatrixMultiply];

    /// The name used by `BACKPROP_GEMM` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            GemmPath::Avx512 => "avx512",
            GemmPath::Avx2 => "avx2",
            GemmPath::Portable => "portable",
            GemmPath::MatrixMultiply => "matrixmultiply",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            GemmPath::Avx512 => SimdPath::Avx512.is_supported(),
            GemmPath::Avx2 => SimdPath::Avx2.is_supported(),
            GemmPath::Portable | GemmPath::MatrixMultiply => true,
        }
    }

    /// The tile `(MR, NR)` of the path's microkernel (matrixmultiply packs
    /// for itself; its `PackedB` is plain row-major, reported as `(1, 1)`).
    pub fn tile(self) -> (usize, usize) {
        match self.kernel() {
            Some((_, mr, nr)) => (mr, nr),
            None => (1, 1),
        }
    }

    fn kernel(self) -> Option<(KernelFn, usize, usize)> {
        match self {
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx512 => Some((micro::avx512::kernel, micro::avx512::MR, micro::avx512::NR)),
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx2 => Some((micro::avx2::kernel, micro::avx2::MR, micro::avx2::NR)),
            GemmPath::MatrixMultiply => None,
            _ => Some((micro::portable::kernel, micro::portable::MR, micro::portable::NR)),
        }
    }
}

impl std::fmt::Display for GemmPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The GEMM path of this process: `BACKPROP_GEMM` when it names a supported
/// path, else the one matching [`simd_path`](super::simd_path).
pub fn gemm_path() -> GemmPath {
    static PATH: OnceLock<GemmPath> = OnceLock::new();
    *PATH.get_or_init(|| {
        let forced = std::env::var("BACKPROP_GEMM").ok().and_then(|v| {
            let v = v.trim().to_ascii_lowercase();
            GemmPath::ALL.into_iter().find(|p| p.name() == v && p.is_supported())
        });
        forced.unwrap_or(match super::simd_path() {
            SimdPath::Avx512 => GemmPath::Avx512,
            SimdPath::Avx2 => GemmPath::Avx2,
            SimdPath::Wide | SimdPath::Scalar => GemmPath::Portable,
        })
    })
}

/// A `k × n` right-hand operand packed for one [`GemmPath`]: panels of `NR`
/// columns, each `k × NR` k-major, the last zero-padded. Packing again at the
/// same or a smaller size reuses the buffer.
#[derive(Default)]
pub struct PackedB {
    buf: AlignedBuf,
    k: usize,
    n: usize,
    path: Option<GemmPath>,
}

impl PackedB {
    /// An empty packed operand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packs `b` for `path`.
    pub fn pack(&mut self, b: MatRef<'_>, path: GemmPath) {
        self.pack_with(b, path, false)
    }

    /// Packs `b` for `path`, its panels in parallel on the current rayon
    /// pool when `par`.
    pub fn pack_with(&mut self, b: MatRef<'_>, path: GemmPath, par: bool) {
        let (_, nr) = path.tile();
        let len = if path == GemmPath::MatrixMultiply { b.rows * b.cols } else { b.rows * b.cols.div_ceil(nr) * nr };
        self.buf.resize(len);
        if par && path != GemmPath::MatrixMultiply && b.rows > 0 {
            use rayon::prelude::*;
            // Groups of panels big enough to be worth a task.
            let per = (1 << 16) / (b.rows * nr) + 1;
            let chunk = per * b.rows * nr;
            self.buf.as_mut_slice().par_chunks_mut(chunk).enumerate().for_each(|(i, dst)| {
                let j0 = i * per * nr;
                let cols = (b.cols - j0).min(per * nr);
                pack::pack_b_block(dst, &b, 0, b.rows, j0, cols, nr);
            });
        } else if path == GemmPath::MatrixMultiply {
            let dst = self.buf.as_mut_slice();
            for i in 0..b.rows {
                for j in 0..b.cols {
                    dst[i * b.cols + j] = b.data[i * b.rs + j * b.cs];
                }
            }
        } else {
            pack::pack_b_block(self.buf.as_mut_slice(), &b, 0, b.rows, 0, b.cols, nr);
        }
        (self.k, self.n, self.path) = (b.rows, b.cols, Some(path));
    }

    /// A view of the whole packed matrix, or `None` before the first pack.
    pub fn view(&self) -> Option<PackedRef<'_>> {
        self.path.map(|path| PackedRef { data: self.buf.as_slice(), k: self.k, n: self.n, path })
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

/// Per-caller workspace for packing blocks of A (and of B when B comes as a
/// strided view): one per thread or task, allocated on first use and reused
/// after.
#[derive(Default)]
pub struct GemmScratch {
    a: AlignedBuf,
    b: AlignedBuf,
}

impl GemmScratch {
    /// An empty scratch; it grows to what a call needs (at most `MC × KC`
    /// values for A and `KC × NC` for B) on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scratch already as large as any call needs, so that it never
    /// allocates again.
    pub fn full() -> Self {
        let mut s = Self::default();
        s.a.resize(MC * KC);
        s.b.resize(KC * NC);
        s
    }
}

/// `C ← A·B`, or `C ← C + A·B` when `accumulate`. `B` is either packed
/// ahead (a [`PackedB`] or a [`PackedRef`] range of one: worth it when many
/// calls share it) or a strided [`MatRef`], packed block by block into
/// `scratch` as the loop reaches it, while the block is about to be used.
///
/// Each element of C is one sum over k in order, the same whichever tile,
/// shard or thread computes it, and whichever form B came in. Errors when
/// the dimensions disagree.
pub fn gemm<'b>(
    a: MatRef<'_>,
    b: impl Into<BOperand<'b>>,
    c: MatMut<'_>,
    accumulate: bool,
    scratch: &mut GemmScratch,
) -> Result<()> {
    let Some((b, path)) = b.into().0 else {
        return Err(Error::config("gemm", "B was never packed"));
    };
    let (bk, bn) = b.dims();
    if a.cols != bk || c.rows != a.rows || c.cols != bn {
        return Err(Error::shape(
            "gemm operands",
            format!("A m×k, B k×n, C m×n with A {}×{}", a.rows, a.cols),
            format!("B {bk}×{bn}, C {}×{}", c.rows, c.cols),
        ));
    }
    if !path.is_supported() {
        return Err(Error::config("gemm", format!("the {path} GEMM path cannot run on this CPU")));
    }
    let (m, k, n) = (a.rows, a.cols, c.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            let mut c = c;
            for i in 0..m {
                c.row_mut(i).expect("row below rows").fill(0.0);
            }
        }
        return Ok(());
    }
    match path.kernel() {
        None => {
            let (bp, rsb, csb) = match b {
                BSource::Packed(p) => (p.data.as_ptr(), n as isize, 1),
                BSource::Strided(v) => (v.data.as_ptr(), v.rs as isize, v.cs as isize),
            };
            let beta = if accumulate { 1.0 } else { 0.0 };
            // SAFETY: the views were checked at construction (A and a strided
            // B reach only elements of their data, C's rows are rs ≥ n apart
            // inside c.data), and a packed B for this path is row-major k×n.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr(),
                    a.rs as isize,
                    a.cs as isize,
                    bp,
                    rsb,
                    csb,
                    beta,
                    c.ptr,
                    c.rs as isize,
                    1,
                );
            }
        }
        Some((kernel, mr, nr)) => blocked(a, b, c, accumulate, scratch, Tile { kernel, mr, nr }),
    }
    Ok(())
}

/// The right-hand operand as the blocked loop reads it.
#[derive(Clone, Copy)]
enum BSource<'b> {
    /// Panels of `k × NR`, k-major, for all of B's columns.
    Packed(PackedRef<'b>),
    /// A view, packed per block.
    Strided(MatRef<'b>),
}

impl BSource<'_> {
    /// `(k, n)`.
    fn dims(&self) -> (usize, usize) {
        match self {
            BSource::Packed(p) => (p.k, p.n),
            BSource::Strided(v) => (v.rows, v.cols),
        }
    }
}

/// A microkernel and its tile.
#[derive(Clone, Copy)]
struct Tile {
    kernel: KernelFn,
    mr: usize,
    nr: usize,
}

/// The cache-blocked loop nest: columns in blocks of NC, k in blocks of KC
/// (B's `KC × NC` block, packed if it came strided, stays in L2 and one
/// panel of it in L1), rows in blocks of MC (packed A), then MR × NR tiles.
fn blocked(a: MatRef<'_>, b: BSource<'_>, c: MatMut<'_>, accumulate: bool, scratch: &mut GemmScratch, t: Tile) {
    let Tile { kernel, mr, nr } = t;
    let (m, k, n) = (a.rows, a.cols, c.cols);
    let (ldc, cptr) = (c.rs, c.ptr);
    let GemmScratch { a: abuf, b: bbuf } = scratch;
    abuf.resize(MC.min(m.div_ceil(mr) * mr) * KC.min(k));
    if let BSource::Strided(_) = b {
        bbuf.resize(KC.min(k) * NC.min(n.div_ceil(nr) * nr));
    }
    for jc in (0..n).step_by(NC) {
        let ncb = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let acc = accumulate || pc > 0;
            // Panel p of this block starts at p·stride + off.
            let (bp, stride, off): (&[f32], usize, usize) = match b {
                BSource::Packed(p) => (&p.data[(jc / nr) * k * nr..], k * nr, pc * nr),
                BSource::Strided(v) => {
                    let bp = bbuf.as_mut_slice();
                    pack::pack_b_block(bp, &v, pc, kc, jc, ncb, nr);
                    (bp, kc * nr, 0)
                }
            };
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let ap = abuf.as_mut_slice();
                pack::pack_a(ap, &a, ic, mc, pc, kc, mr);
                for jr in (0..ncb).step_by(nr) {
                    let nv = nr.min(ncb - jr);
                    let bpanel = &bp[(jr / nr) * stride + off..][..kc * nr];
                    for ir in (0..mc).step_by(mr) {
                        let mv = mr.min(mc - ir);
                        let apanel = &ap[(ir / mr) * kc * mr..][..kc * mr];
                        // SAFETY: apanel and bpanel hold kc·MR and kc·NR values
                        // (bounds-checked slices); the tile's mv rows of nv
                        // values start at row ic+ir, column jc+jr of C, inside
                        // the m×n view whose rows are ldc ≥ n apart in the
                        // borrowed data; mv ≤ MR, nv ≤ NR; the kernel came from
                        // `GemmPath::kernel`, only reachable for a path whose
                        // CPU features `is_supported` confirmed.
                        unsafe {
                            kernel(
                                kc,
                                apanel.as_ptr(),
                                bpanel.as_ptr(),
                                cptr.add((ic + ir) * ldc + jc + jr),
                                ldc,
                                mv,
                                nv,
                                acc,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The right-hand operand of [`gemm`] and the path it runs on: packed ahead
/// (from a [`PackedB`], `None` when it was never packed, or a
/// [`PackedRef`]), or a strided view packed as the loop goes.
pub struct BOperand<'b>(Option<(BSource<'b>, GemmPath)>);

impl<'b> BOperand<'b> {
    /// A strided view, run on `path` (the `From<MatRef>` conversion uses the
    /// process's [`gemm_path`]).
    pub fn strided(b: MatRef<'b>, path: GemmPath) -> Self {
        BOperand(Some((BSource::Strided(b), path)))
    }
}

impl<'b> From<&'b PackedB> for BOperand<'b> {
    fn from(b: &'b PackedB) -> Self {
        BOperand(b.view().map(|p| (BSource::Packed(p), p.path)))
    }
}

impl<'b> From<PackedRef<'b>> for BOperand<'b> {
    fn from(b: PackedRef<'b>) -> Self {
        BOperand(Some((BSource::Packed(b), b.path)))
    }
}

impl<'b> From<MatRef<'b>> for BOperand<'b> {
    fn from(b: MatRef<'b>) -> Self {
        BOperand::strided(b, gemm_path())
    }
}

/// `C ← A·B (+ C)` with `B` a strided view, packed into `packed` first: the
/// convenience form for one-off products.
pub fn gemm_strided(
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    accumulate: bool,
    packed: &mut PackedB,
    scratch: &mut GemmScratch,
) -> Result<()> {
    packed.pack(b, gemm_path());
    gemm(a, &*packed, c, accumulate, scratch)
}
