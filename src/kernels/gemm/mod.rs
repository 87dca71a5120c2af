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

pub(crate) use pack::AlignedBuf;

use super::SimdPath;
use crate::error::{Error, Result};
use micro::KernelFn;
use std::sync::OnceLock;

/// Depth of a packed block: `KC` values of k per pass over C.
const KC: usize = 256;
/// Rows of A packed at a time (a multiple of every kernel's MR).
const MC: usize = 96;
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

    /// Element (i, j), or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.data[i * self.rs + j * self.cs])
    }
}

/// A mutable row-major view: element (i, j) is `data[i·rs + j]`, `rs ≥ cols`
/// so that no two elements alias.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
}

impl<'a> MatMut<'a> {
    /// A row-major `rows × cols` view of `data` (exactly `rows·cols` values).
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        let n =
            rows.checked_mul(cols).ok_or_else(|| Error::shape("matrix", "rows·cols to fit in usize", "overflow"))?;
        if data.len() != n {
            return Err(Error::shape("output matrix data", format!("{rows}×{cols} = {n} values"), data.len()));
        }
        Ok(MatMut { data, rows, cols, rs: cols })
    }

    /// A view whose rows start `rs ≥ cols` values apart.
    pub fn with_row_stride(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Result<Self> {
        match extent(rows, cols, rs, 1) {
            Some(e) if rs >= cols && e <= data.len() => Ok(MatMut { data, rows, cols, rs }),
            _ => Err(Error::shape(
                "output matrix data",
                format!("{rows}×{cols} with row stride {rs} ≥ {cols}"),
                data.len(),
            )),
        }
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
        let (_, nr) = path.tile();
        let len = if path == GemmPath::MatrixMultiply { b.rows * b.cols } else { b.rows * b.cols.div_ceil(nr) * nr };
        self.buf.resize(len);
        if path == GemmPath::MatrixMultiply {
            let dst = self.buf.as_mut_slice();
            for i in 0..b.rows {
                for j in 0..b.cols {
                    dst[i * b.cols + j] = b.data[i * b.rs + j * b.cs];
                }
            }
        } else {
            pack::pack_b(self.buf.as_mut_slice(), &b, nr);
        }
        (self.k, self.n, self.path) = (b.rows, b.cols, Some(path));
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

/// Per-caller workspace for packing blocks of A: one per thread or task,
/// allocated on first use and reused after.
#[derive(Default)]
pub struct GemmScratch {
    a: AlignedBuf,
}

impl GemmScratch {
    /// An empty scratch; it grows to `MC × KC` values on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// `C ← A·B`, or `C ← C + A·B` when `accumulate`, with `B` packed.
///
/// Each element of C is one sum over k in order, the same whichever tile,
/// shard or thread computes it. Errors when the dimensions disagree.
pub fn gemm(a: MatRef<'_>, b: &PackedB, c: MatMut<'_>, accumulate: bool, scratch: &mut GemmScratch) -> Result<()> {
    if a.cols != b.k || c.rows != a.rows || c.cols != b.n {
        return Err(Error::shape(
            "gemm operands",
            format!("A m×k, B k×n, C m×n with A {}×{}", a.rows, a.cols),
            format!("B {}×{}, C {}×{}", b.k, b.n, c.rows, c.cols),
        ));
    }
    let Some(path) = b.path else {
        return Err(Error::config("gemm", "B was never packed"));
    };
    if !path.is_supported() {
        return Err(Error::config("gemm", format!("B was packed for {path}, which this CPU cannot run")));
    }
    let (m, k, n) = (a.rows, a.cols, b.n);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c.data[i * c.rs..i * c.rs + n].fill(0.0);
            }
        }
        return Ok(());
    }
    match path.kernel() {
        None => {
            let beta = if accumulate { 1.0 } else { 0.0 };
            // SAFETY: the views were checked at construction (A reaches only
            // elements of a.data, C's rows are rs ≥ n apart inside c.data),
            // and the packed B is row-major k×n, as the call describes.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr(),
                    a.rs as isize,
                    a.cs as isize,
                    b.buf.as_slice().as_ptr(),
                    n as isize,
                    1,
                    beta,
                    c.data.as_mut_ptr(),
                    c.rs as isize,
                    1,
                );
            }
        }
        Some((kernel, mr, nr)) => blocked(a, b, c, accumulate, scratch, kernel, mr, nr),
    }
    Ok(())
}

/// The cache-blocked loop nest: k in blocks of KC (so a block of packed A
/// stays in L2 and a panel of B in L1), rows in blocks of MC, columns in
/// blocks of NC, then MR × NR tiles.
#[allow(clippy::too_many_arguments)]
fn blocked(
    a: MatRef<'_>,
    b: &PackedB,
    c: MatMut<'_>,
    accumulate: bool,
    scratch: &mut GemmScratch,
    kernel: KernelFn,
    mr: usize,
    nr: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.n);
    let bp = b.buf.as_slice();
    let ldc = c.rs;
    let cptr = c.data.as_mut_ptr();
    scratch.a.resize(MC.min(m.div_ceil(mr) * mr) * KC.min(k));
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        let acc = accumulate || pc > 0;
        for ic in (0..m).step_by(MC) {
            let mc = MC.min(m - ic);
            let ap = scratch.a.as_mut_slice();
            pack::pack_a(ap, &a, ic, mc, pc, kc, mr);
            for jc in (0..n).step_by(NC) {
                let ncb = NC.min(n - jc);
                for jr in (jc..jc + ncb).step_by(nr) {
                    let nv = nr.min(n - jr);
                    let bpanel = &bp[(jr / nr) * k * nr + pc * nr..][..kc * nr];
                    for ir in (0..mc).step_by(mr) {
                        let mv = mr.min(mc - ir);
                        let apanel = &ap[(ir / mr) * kc * mr..][..kc * mr];
                        // SAFETY: apanel and bpanel hold kc·MR and kc·NR values
                        // (bounds-checked slices); the tile's mv rows of nv
                        // values start at row ic+ir, column jr of C, inside
                        // the m×n view whose rows are ldc ≥ n apart in
                        // c.data; mv ≤ MR, nv ≤ NR; the kernel came from
                        // `GemmPath::kernel`, only reachable for a path whose
                        // CPU features `is_supported` confirmed.
                        unsafe {
                            kernel(
                                kc,
                                apanel.as_ptr(),
                                bpanel.as_ptr(),
                                cptr.add((ic + ir) * ldc + jr),
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
    gemm(a, packed, c, accumulate, scratch)
}
