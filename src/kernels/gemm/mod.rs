//! The one GEMM: `C ← A·B (+ C)`, f32, cache-blocked with packed operands
//! and a register-tiled microkernel chosen at run time.
//!
//! Operands are views with strides ([`MatRef`]), so a transpose is a swap of
//! strides ([`MatRef::t`]), never a copy. The safe entry points check every
//! length against the dimensions and strides once, then run the blocked loop.
//! `B` comes either as a strided view, packed one `KC × NC` block at a time
//! into the caller's [`GemmScratch`] as the loop reaches it (the trainer's
//! weights, read where they lie), or packed ahead into a [`PackedB`] when
//! many calls share it (a shard's δ, shared by the weight-gradient tiles; the
//! [`Predictor`](crate::Predictor)'s weights). `A` is packed block by block
//! into the scratch, so a call allocates nothing once the scratch is grown.
//!
//! Paths ([`GemmPath`]): our AVX-512 (12×32 tile) and AVX2 (6×16) kernels,
//! a portable 4×16 kernel, and `matrixmultiply::sgemm` (bluss), kept as an
//! independent implementation for comparison: it allocates its packing
//! buffers on every call, which a training step must not do, so it is never
//! the default. `BACKPROP_GEMM=avx512|avx2|portable|matrixmultiply` forces
//! one; by default the path follows [`simd_path`](super::simd_path), so
//! `BACKPROP_SIMD=scalar` also runs the portable kernel and scalar packing.

pub mod bf16;
pub(crate) mod micro;
mod pack;
mod packed;
mod view;

pub use packed::{AOperand, BOperand, GemmScratch, PackedA, PackedARef, PackedB, PackedRef};
use packed::{ASource, BSource};
pub use view::{MatMut, MatRef, Strides};

use super::SimdPath;
use crate::error::{Error, Result};
use bf16::Packing;
pub use bf16::Precision;
use micro::{Acc, CTile, Microkernel};
use pack::{Block, Panels, Transposer};
use std::sync::OnceLock;

/// Depth of a packed f32 block: `KC` values of k per pass over C.
const KC: usize = 256;
/// Depth of a packed bf16 block: 1024 values of k (512 rows of pairs, the
/// bytes of 256 f32 rows twice over). A hidden layer of up to 1024 inputs
/// is then one chain per value, C written once: measured on one Zen 4 core,
/// 6 alternating rounds, the L forward (784-1024-1024-10, 256 rows) ran at
/// a median 190.6 GFLOP/s against 182.3 with 512, XL (1024-4096-4096-1024,
/// 512 rows) at 200.6 against 193.7.
const BF16_KC: usize = 1024;

/// `dst[i·cols + j] = a(i, j)`: the view copied row-major into the first
/// `rows·cols` values of `dst`, through the path's register transpose when
/// the view's rows run down the memory (a transposed view). An error when
/// `dst` is shorter.
pub(crate) fn copy_rows(dst: &mut [f32], a: &MatRef<'_>) -> Result<()> {
    let n = a.rows * a.cols;
    if dst.len() < n {
        return Err(Error::shape("copy of a matrix view", format!("room for {n} values"), dst.len()));
    }
    if n > 0 {
        let lines = pack::Lines { src: a.data, sj: a.cs, sk: a.rs, valid: a.cols, len: a.rows };
        pack::gather_panel(&mut dst[..n], a.cols, lines, Mode::from(gemm_path()).transposer());
    }
    Ok(())
}

/// Rows of A packed at a time (a multiple of every kernel's MR: 12, 6, 4).
/// Measured on the XL layer 256×4096×4096 against 96: 104-113 vs 95-101
/// GFLOP/s, since each panel of B is then streamed once per k block for 22
/// tiles instead of 8.
const MC: usize = 264;
/// Columns of B swept per packed block of A (a multiple of every kernel's
/// NR: 32, 16).
const NC: usize = 1024;

/// The blocked loop finds a block's panels by `i0 / MR` and `jc / NR`
/// ([`PackedARef::block`], the packed B's panels): each block must start
/// on a panel, so MC and NC are multiples of every tile's side.
const _: () = {
    let tiles = [
        micro::PORTABLE_TILE,
        #[cfg(target_arch = "x86_64")]
        super::arch::x86_64::avx512::TILE,
        #[cfg(target_arch = "x86_64")]
        super::arch::x86_64::avx2::TILE,
        #[cfg(target_arch = "x86_64")]
        super::arch::x86_64::avx512::BF16_TILE,
    ];
    let mut i = 0;
    while i < tiles.len() {
        assert!(MC.is_multiple_of(tiles[i].0), "MC is a multiple of every MR");
        assert!(NC.is_multiple_of(tiles[i].1), "NC is a multiple of every NR");
        i += 1;
    }
};

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

/// What runs a path on this CPU: the blocked loop with a microkernel (and
/// the register transpose its packings may use), or matrixmultiply. Only
/// [`GemmPath::engine`] makes one, from the path's token.
#[derive(Clone, Copy)]
enum Engine {
    Blocked(Microkernel, Transposer, Packing),
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
        self.engine().is_some()
    }

    /// The tile `(MR, NR)` of the path's microkernel, which is also how a
    /// [`PackedB`] for it is laid out (matrixmultiply packs for itself; its
    /// `PackedB` is plain row-major, reported as `(1, 1)`).
    pub fn tile(self) -> (usize, usize) {
        match self {
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx512 => super::arch::x86_64::avx512::TILE,
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx2 => super::arch::x86_64::avx2::TILE,
            #[cfg(not(target_arch = "x86_64"))]
            GemmPath::Avx512 | GemmPath::Avx2 => micro::PORTABLE_TILE,
            GemmPath::Portable => micro::PORTABLE_TILE,
            GemmPath::MatrixMultiply => (1, 1),
        }
    }

    /// The path's f32 engine, made from its token: `None` when the CPU
    /// lacks the instruction set.
    fn engine(self) -> Option<Engine> {
        let f32 = Packing::F32;
        match self {
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx512 => {
                use super::arch::x86_64::avx512;
                avx512::Avx512::detect().map(|t| Engine::Blocked(avx512::microkernel(t), Transposer::avx512(t), f32))
            }
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx2 => {
                use super::arch::x86_64::avx2;
                avx2::Avx2::detect().map(|t| Engine::Blocked(avx2::microkernel(t), Transposer::avx2(t), f32))
            }
            #[cfg(not(target_arch = "x86_64"))]
            GemmPath::Avx512 | GemmPath::Avx2 => None,
            GemmPath::Portable => Some(Engine::Blocked(Microkernel::portable(), Transposer::none(), f32)),
            GemmPath::MatrixMultiply => Some(Engine::MatrixMultiply),
        }
    }
}

/// How a product runs: the GEMM path and the precision of its operands.
/// Operands packed for one mode run only with operands of the same.
///
/// In bf16, the AVX-512 path runs VDPBF16PS where the CPU has AVX512-BF16
/// ([`Mode::native_bf16`]); every other path runs its f32 microkernel on
/// operands rounded to bf16 and packed in VDPBF16PS's order, which makes
/// the same sums (see [`bf16`]), at f32 speed. The matrixmultiply path has
/// no bf16 form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode {
    /// The instruction path.
    pub path: GemmPath,
    /// The operands' precision.
    pub precision: Precision,
}

impl From<GemmPath> for Mode {
    fn from(path: GemmPath) -> Mode {
        Mode { path, precision: Precision::Fp32 }
    }
}

impl Mode {
    /// The process's path ([`gemm_path`]) in `precision`.
    pub fn of(precision: Precision) -> Mode {
        Mode { path: gemm_path(), precision }
    }

    /// Whether this CPU can run the mode.
    pub fn is_supported(self) -> bool {
        self.engine().is_some()
    }

    /// The tile `(MR, NR)` of the mode's microkernel: the path's, but for
    /// VDPBF16PS's own.
    pub fn tile(self) -> (usize, usize) {
        match self.engine() {
            Some(Engine::Blocked(k, _, _)) => (k.mr, k.nr),
            _ => self.path.tile(),
        }
    }

    /// Whether the mode runs bf16 products on the CPU's bf16 instructions
    /// (rather than rounding operands for the f32 kernels).
    pub fn native_bf16(self) -> bool {
        matches!(self.engine(), Some(Engine::Blocked(_, _, p)) if p.is_pairs())
    }

    /// The mode's engine: `None` when the CPU cannot run it.
    fn engine(self) -> Option<Engine> {
        let base = self.path.engine()?;
        match (self.precision, base) {
            (Precision::Fp32, e) => Some(e),
            (Precision::Bf16, Engine::MatrixMultiply) => None,
            (Precision::Bf16, Engine::Blocked(kernel, tr, _)) => {
                #[cfg(target_arch = "x86_64")]
                if self.path == GemmPath::Avx512 {
                    use super::arch::x86_64::avx512;
                    if let Some(t) = avx512::Avx512Bf16::detect().filter(|_| !bf16_emulated()) {
                        return Some(Engine::Blocked(avx512::bf16_microkernel(t), tr, Packing::Pairs(t)));
                    }
                }
                Some(Engine::Blocked(kernel, tr, Packing::Rounded))
            }
        }
    }

    /// The mode's engine, or the error that names a mode this CPU cannot
    /// run.
    fn require(self) -> Result<Engine> {
        self.engine().ok_or_else(|| Error::config("gemm", format!("the {self} GEMM cannot run on this CPU")))
    }

    /// How operands are packed for the mode, or the error of
    /// [`require`](Self::require).
    pub(crate) fn layout(self) -> Result<Layout> {
        Ok(match self.require()? {
            Engine::Blocked(k, tr, packing) => Layout { mr: k.mr, nr: k.nr, tr, packing, plain: false },
            Engine::MatrixMultiply => {
                let (mr, nr) = self.path.tile();
                Layout { mr, nr, tr: Transposer::none(), packing: Packing::F32, plain: true }
            }
        })
    }

    /// The register transpose a packing for this mode may use (none when
    /// the path or the CPU has none).
    fn transposer(self) -> Transposer {
        match self.engine() {
            Some(Engine::Blocked(_, t, _)) => t,
            _ => Transposer::none(),
        }
    }

    /// How the mode's panels hold k (f32 on matrixmultiply, which packs
    /// for itself).
    fn packing(self) -> Packing {
        match self.engine() {
            Some(Engine::Blocked(_, _, p)) => p,
            _ => Packing::F32,
        }
    }
}

/// How a mode's operands are packed: panels of `mr` rows of A and `nr`
/// columns of B, transposed through `tr`, holding k as `packing` says; or,
/// when `plain`, row-major (matrixmultiply packs for itself).
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub mr: usize,
    pub nr: usize,
    pub tr: Transposer,
    pub packing: Packing,
    pub plain: bool,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.precision {
            Precision::Fp32 => write!(f, "{}", self.path),
            Precision::Bf16 if self.native_bf16() => write!(f, "{} bf16 (avx512bf16)", self.path),
            Precision::Bf16 => write!(f, "{} bf16 (emulated)", self.path),
        }
    }
}

/// Whether `BACKPROP_BF16=emulate` asks bf16 products to round their
/// operands for the f32 kernels even where the CPU has bf16 instructions
/// (the same sums; to test one against the other).
fn bf16_emulated() -> bool {
    static EMULATED: OnceLock<bool> = OnceLock::new();
    *EMULATED.get_or_init(|| std::env::var("BACKPROP_BF16").is_ok_and(|v| v.trim().eq_ignore_ascii_case("emulate")))
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

/// Whether a product of `n` columns whose A comes as a view packs each of
/// A's blocks more than once: once for every `NC` columns. Packing A ahead
/// ([`PackedA`]) then saves the repeats.
pub fn packs_a_per_block(n: usize) -> bool {
    n > NC
}

/// Where [`gemm`] writes. A bare [`MatMut`] converts with `accumulate`
/// false.
pub struct Dest<'c> {
    /// C.
    pub c: MatMut<'c>,
    /// Whether each value's chain over k continues from what C holds
    /// (true) or starts from 0.
    pub accumulate: bool,
}

impl<'c> From<MatMut<'c>> for Dest<'c> {
    fn from(c: MatMut<'c>) -> Self {
        Dest { c, accumulate: false }
    }
}

/// `C ← A·B`, or `C ← C + A·B` when `accumulate` ([`Dest`]). `B` is either packed
/// ahead (a [`PackedB`] or a [`PackedRef`]: worth it when many calls share
/// it) or a strided [`MatRef`], packed block by block into `scratch` as the
/// loop reaches it, while the block is about to be used.
///
/// On our kernels each element of C is one chain of multiply-adds over k in
/// order (see [`micro`]), starting from 0 or, with `accumulate`, from the
/// value C holds: the same whichever tile or thread computes it, whichever
/// form B came in, and however k is cut into calls made one after another
/// with `accumulate`. (`matrixmultiply` sums each of its own depth blocks
/// and adds it to C: its results depend on where k is cut.) Errors when
/// the dimensions disagree, the path cannot run here, or the scratch cannot
/// grow.
pub fn gemm<'a, 'b, 'c>(
    a: impl Into<AOperand<'a>>,
    b: impl Into<BOperand<'b>>,
    c: impl Into<Dest<'c>>,
    scratch: &mut GemmScratch,
) -> Result<()> {
    let Dest { c, accumulate } = c.into();
    let first = if accumulate { Acc::Continue } else { Acc::Overwrite };
    product(Operands::of(a.into(), b.into())?, c, Sums { first, rest: Acc::Continue }, scratch)
}

/// `C ← A·B` for a product whose k is never cut across calls (a layer's
/// forward product, its input gradient): each depth block of `KC` values
/// of k is one chain from 0, added to C in block order. A value depends on
/// KC, never on the tile, the thread or B's form. Faster than [`gemm`] when
/// C lies far from the core: a tile of C is read after its k loop, while it
/// arrives, not before it. Errors as [`gemm`].
pub fn gemm_layer<'a, 'b>(
    a: impl Into<AOperand<'a>>,
    b: impl Into<BOperand<'b>>,
    c: MatMut<'_>,
    scratch: &mut GemmScratch,
) -> Result<()> {
    product(Operands::of(a.into(), b.into())?, c, Sums { first: Acc::Overwrite, rest: Acc::Add }, scratch)
}

/// A product's operands, checked to be packed for one mode, and that mode.
struct Operands<'a, 'b> {
    a: ASource<'a>,
    b: BSource<'b>,
    mode: Mode,
}

impl<'a, 'b> Operands<'a, 'b> {
    /// The operands; an error when either was never packed, or they were
    /// packed for different modes.
    fn of(a: AOperand<'a>, b: BOperand<'b>) -> Result<Self> {
        let Some((b, mode)) = b.0 else {
            return Err(Error::config("gemm", "B was never packed"));
        };
        let Some(a) = a.0 else {
            return Err(Error::config("gemm", "A was never packed"));
        };
        if let ASource::Packed(p) = a {
            if p.mode != mode {
                return Err(Error::config("gemm", format!("A is packed for {}, B runs on {mode}", p.mode)));
            }
        }
        Ok(Operands { a, b, mode })
    }
}

/// What each depth block of a product does with C: the first, and the
/// rest.
#[derive(Clone, Copy)]
struct Sums {
    first: Acc,
    rest: Acc,
}

/// [`gemm`] and [`gemm_layer`]: the shapes checked, then the path's loop.
fn product(ops: Operands<'_, '_>, c: MatMut<'_>, sums: Sums, scratch: &mut GemmScratch) -> Result<()> {
    let ((am, ak), (bk, bn)) = (ops.a.dims(), ops.b.dims());
    if ak != bk || c.rows != am || c.cols != bn {
        return Err(Error::shape(
            "gemm operands",
            format!("A m×k, B k×n, C m×n with A {am}×{ak}"),
            format!("B {bk}×{bn}, C {}×{}", c.rows, c.cols),
        ));
    }
    let engine = ops.mode.require()?;
    if am == 0 || bn == 0 {
        return Ok(());
    }
    if ak == 0 {
        if sums.first == Acc::Overwrite {
            let mut c = c;
            for i in 0..am {
                c.row_mut(i).expect("row below rows").fill(0.0);
            }
        }
        return Ok(());
    }
    match engine {
        Engine::MatrixMultiply => {
            by_matrixmultiply(&ops, c, sums.first != Acc::Overwrite);
            Ok(())
        }
        Engine::Blocked(kernel, tr, packing) => blocked(&ops, c, Plan { sums, kernel, tr, packing }, scratch),
    }
}

/// `C ← A·B (+ C)` by `matrixmultiply::sgemm` (operands and C checked,
/// none empty).
fn by_matrixmultiply(ops: &Operands<'_, '_>, c: MatMut<'_>, accumulate: bool) {
    let ((m, k), n) = (ops.a.dims(), c.cols);
    let (ap, rsa, csa) = match ops.a {
        ASource::Strided(v) => (v.data.as_ptr(), v.rs as isize, v.cs as isize),
        ASource::Packed(p) => (p.data.as_ptr(), k as isize, 1),
    };
    let (bp, rsb, csb) = match ops.b {
        BSource::Packed(p) => (p.data.as_ptr(), n as isize, 1),
        BSource::Strided(v) => (v.data.as_ptr(), v.rs as isize, v.cs as isize),
    };
    let beta = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the views were checked at construction (a strided A or B
    // reaches only elements of its data, C's rows are rs ≥ n apart inside
    // its data), and a packed A or B for this path is row-major (m×k,
    // k×n); m, k, n > 0, so no view here is empty.
    unsafe {
        matrixmultiply::sgemm(m, k, n, 1.0, ap, rsa, csa, bp, rsb, csb, beta, c.ptr, c.rs as isize, 1);
    }
}

/// How the blocked loop runs: what each depth block does with C, the
/// microkernel, the register transpose packing may use and how the panels
/// hold k.
#[derive(Clone, Copy)]
struct Plan {
    sums: Sums,
    kernel: Microkernel,
    tr: Transposer,
    packing: Packing,
}

/// The cache-blocked loop nest: columns in blocks of NC, k in blocks of KC
/// (B's `KC × NC` block, packed if it came strided, stays in L2 and one
/// panel of it in L1), rows in blocks of MC (packed A), then MR × NR tiles.
fn blocked(ops: &Operands<'_, '_>, c: MatMut<'_>, plan: Plan, scratch: &mut GemmScratch) -> Result<()> {
    let Plan { sums, kernel, tr, packing } = plan;
    let (mr, nr, depth) = (kernel.mr, kernel.nr, |k| packing.depth(k));
    let ((m, k), n) = (ops.a.dims(), c.cols);
    let (ldc, cptr) = (c.rs, c.ptr);
    let GemmScratch { a: abuf, b: bbuf } = scratch;
    if let ASource::Strided(_) = ops.a {
        abuf.resize(MC.min(m.div_ceil(mr) * mr) * depth(packing.kc().min(k)))?;
    }
    if let BSource::Strided(_) = ops.b {
        bbuf.resize(depth(packing.kc().min(k)) * NC.min(n.div_ceil(nr) * nr))?;
    }
    for jc in (0..n).step_by(NC) {
        let ncb = NC.min(n - jc);
        for pc in (0..k).step_by(packing.kc()) {
            let kc = packing.kc().min(k - pc);
            let acc = if pc == 0 { sums.first } else { sums.rest };
            // Panel p of this block starts at p·stride + off.
            let (bp, stride, off): (&[f32], usize, usize) = match ops.b {
                BSource::Packed(p) => (&p.data[(jc / nr) * depth(k) * nr..], depth(k) * nr, depth(pc) * nr),
                BSource::Strided(v) => {
                    let bp = bbuf.as_mut_slice();
                    let block = Block { first: jc, count: ncb, k0: pc, kc };
                    pack::pack_b_block(bp, &v, block, Panels { width: nr, tr, packing });
                    (bp, depth(kc) * nr, 0)
                }
            };
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let ap: &[f32] = match ops.a {
                    ASource::Strided(v) => {
                        let ap = abuf.as_mut_slice();
                        let block = Block { first: ic, count: mc, k0: pc, kc };
                        pack::pack_a(ap, &v, block, Panels { width: mr, tr, packing });
                        ap
                    }
                    ASource::Packed(p) => p.block(ic, pc, mr),
                };
                let kd = depth(kc);
                for jr in (0..ncb).step_by(nr) {
                    let nv = nr.min(ncb - jr);
                    let bpanel = &bp[(jr / nr) * stride + off..][..kd * nr];
                    for ir in (0..mc).step_by(mr) {
                        let mv = mr.min(mc - ir);
                        let apanel = &ap[(ir / mr) * kd * mr..][..kd * mr];
                        // SAFETY: the tile's mv ≤ MR rows of nv ≤ NR values
                        // start at row ic+ir < m, column jc+jr < n of C, inside
                        // the m×n view whose rows are ldc ≥ n apart in the
                        // exclusively borrowed data; the panels are slices of
                        // depth(kc)·MR and depth(kc)·NR values.
                        unsafe {
                            let ptr = cptr.add((ic + ir) * ldc + jc + jr);
                            kernel.run(apanel, bpanel, CTile { ptr, ldc, m: mv, n: nv }, acc);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
