//! Compute kernels: the GEMM ([`gemm`]) and the elementwise vector kernels
//! ([`Kernels`]), each with a plain scalar twin.
//!
//! The instruction set is chosen once per process at run time, memchr
//! style: AVX-512 if the CPU has it, else AVX2+FMA, else the `wide` path
//! (whatever SIMD the crate was compiled for). The environment variable
//! `BACKPROP_SIMD=avx512|avx2|wide|scalar` forces a path (one the CPU lacks
//! falls back to the best it has); [`simd_path`] says which is active.

pub(crate) mod arch;
pub mod gemm;
pub(crate) mod generic;
pub(crate) mod math;
pub mod peak;
pub(crate) mod scalar;
pub(crate) mod simd;
pub(crate) mod sparse;
pub(crate) mod update;

use crate::error::{Error, Result};
use simd::Table;
use std::sync::OnceLock;
pub use update::{AdamStep, Rewrite, SgdStep};

/// An instruction-set path for the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdPath {
    /// AVX-512F (16 f32 lanes), detected at run time.
    Avx512,
    /// AVX2 with FMA (8 f32 lanes), detected at run time.
    Avx2,
    /// `wide::f32x8`, instructions fixed at compile time (SSE2 in a default
    /// x86-64 build).
    Wide,
    /// The plain scalar twins.
    Scalar,
}

impl SimdPath {
    /// Every path, fastest first.
    pub const ALL: [SimdPath; 4] = [SimdPath::Avx512, SimdPath::Avx2, SimdPath::Wide, SimdPath::Scalar];

    /// The name used by `BACKPROP_SIMD` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Avx512 => "avx512",
            SimdPath::Avx2 => "avx2",
            SimdPath::Wide => "wide",
            SimdPath::Scalar => "scalar",
        }
    }

    /// Whether this CPU can run the path (its token can be made).
    pub fn is_supported(self) -> bool {
        self.table().is_some()
    }

    /// The path's kernel table, made from its token: `None` when the CPU
    /// lacks the instruction set.
    fn table(self) -> Option<&'static Table> {
        match self {
            #[cfg(target_arch = "x86_64")]
            SimdPath::Avx512 => arch::x86_64::avx512::Avx512::detect().map(arch::x86_64::avx512::kernels),
            #[cfg(target_arch = "x86_64")]
            SimdPath::Avx2 => arch::x86_64::avx2::Avx2::detect().map(arch::x86_64::avx2::kernels),
            #[cfg(not(target_arch = "x86_64"))]
            SimdPath::Avx512 | SimdPath::Avx2 => None,
            SimdPath::Wide => Some(simd::wide_kernels(arch::portable::Wide::new())),
            SimdPath::Scalar => Some(&simd::SCALAR),
        }
    }

    /// The best path this CPU supports.
    pub fn best() -> SimdPath {
        SimdPath::ALL.into_iter().find(|p| p.is_supported()).unwrap_or(SimdPath::Scalar)
    }

    fn from_name(s: &str) -> Option<SimdPath> {
        SimdPath::ALL.into_iter().find(|p| p.name() == s.trim().to_ascii_lowercase())
    }
}

impl std::fmt::Display for SimdPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The path the kernels use in this process: `BACKPROP_SIMD` when it names a
/// supported path, else [`SimdPath::best`]. Chosen once, then cached.
pub fn simd_path() -> SimdPath {
    static PATH: OnceLock<SimdPath> = OnceLock::new();
    *PATH.get_or_init(|| {
        std::env::var("BACKPROP_SIMD")
            .ok()
            .and_then(|v| SimdPath::from_name(&v))
            .filter(|p| p.is_supported())
            .unwrap_or_else(SimdPath::best)
    })
}

/// The operands of [`Kernels::nonzero_product`]: `a` is `lines × depth`
/// (row-major), `m` is `depth` rows of at least `c` values, `ld` apart.
#[derive(Clone, Copy, Debug)]
pub struct SparseOperands<'a> {
    /// The mostly-zero left operand.
    pub a: &'a [f32],
    /// Its row length.
    pub depth: usize,
    /// The right operand's rows.
    pub m: &'a [f32],
    /// The distance between `m`'s rows.
    pub ld: usize,
}

/// The rows a fused loss head works on: the logits `s` (rows × c, the bias
/// `b` of c values not yet added), which become the outputs `y`; the
/// targets `t` (rows × c); the deltas, written as `(y - t)·(scale·w_r)`;
/// and each row's error `E_r` (unweighted), written into `loss` (rows
/// values).
#[derive(Debug)]
pub struct HeadRows<'a> {
    /// Logits in, outputs out.
    pub s: &'a mut [f32],
    /// The output layer's bias.
    pub b: &'a [f32],
    /// Targets.
    pub t: &'a [f32],
    /// `∂E/∂s · scale`, written.
    pub delta: &'a mut [f32],
    /// Each row's error, written.
    pub loss: &'a mut [f32],
    /// What δ is multiplied by: `1/B` for the mean over a batch (`1/Σw`
    /// for a weighted mean).
    pub scale: f32,
    /// Each row's weight `w_r` (rows values), or `None` for 1 each. The
    /// factor of row `r`'s δ is the f32 product `scale·w_r`, so weights of
    /// 1 give the bits of `None`.
    pub weights: Option<&'a [f32]>,
}

impl HeadRows<'_> {
    /// The factor of each row's δ: `scale·w_r`, or `scale`.
    pub(crate) fn row_scales(weights: Option<&[f32]>, scale: f32, rows: usize) -> impl Iterator<Item = f32> + '_ {
        (0..rows).map(move |r| weights.map_or(scale, |w| scale * w[r]))
    }
}

/// The elementwise kernels of one [`SimdPath`]. Matrices are row-major
/// slices; a bias of length `c` means rows of `c` columns. Every method
/// checks its lengths and returns [`ErrorKind::ShapeMismatch`] rather than
/// reading or writing out of bounds.
///
/// [`ErrorKind::ShapeMismatch`]: crate::ErrorKind::ShapeMismatch
#[derive(Clone, Copy)]
pub struct Kernels {
    path: SimdPath,
    table: &'static Table,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernels({})", self.path)
    }
}

fn check_rows(what: &str, len: usize, cols: usize) -> Result<()> {
    if cols == 0 || !len.is_multiple_of(cols) {
        return Err(Error::shape(what, format!("a multiple of {cols} (> 0) values"), len));
    }
    Ok(())
}

fn check_len(what: &str, len: usize, expected: usize) -> Result<()> {
    if len != expected {
        return Err(Error::shape(what, expected, len));
    }
    Ok(())
}

impl Kernels {
    /// The kernels of the active path ([`simd_path`]).
    pub fn active() -> Kernels {
        Kernels::for_path(simd_path()).unwrap_or(Kernels { path: SimdPath::Scalar, table: &simd::SCALAR })
    }

    /// The kernels of `path`, or `None` when this CPU cannot run it.
    pub fn for_path(path: SimdPath) -> Option<Kernels> {
        path.table().map(|table| Kernels { path, table })
    }

    /// Which path these are.
    pub fn path(&self) -> SimdPath {
        self.path
    }

    /// `x[r][c] ← x[r][c] + b[c]`.
    pub fn bias_identity(&self, x: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("bias_identity x", x.len(), b.len())?;
        (self.table.bias_identity)(x, b);
        Ok(())
    }

    /// `x[r][c] ← σ(x[r][c] + b[c])`, σ(s) = 1/(1+e^-s), within 1e-6
    /// relative of the exact value (or of the f32 subnormal spacing).
    pub fn bias_sigmoid(&self, x: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("bias_sigmoid x", x.len(), b.len())?;
        (self.table.bias_sigmoid)(x, b);
        Ok(())
    }

    /// `x[r][c] ← tanh(x[r][c] + b[c])`.
    pub fn bias_tanh(&self, x: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("bias_tanh x", x.len(), b.len())?;
        (self.table.bias_tanh)(x, b);
        Ok(())
    }

    /// `x[r][c] ← max(x[r][c] + b[c], 0)` (NaN stays NaN).
    pub fn bias_relu(&self, x: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("bias_relu x", x.len(), b.len())?;
        (self.table.bias_relu)(x, b);
        Ok(())
    }

    /// `d ← d ⊙ h(1-h)`, the sigmoid's derivative taken from its output h.
    pub fn sigmoid_backward(&self, d: &mut [f32], h: &[f32]) -> Result<()> {
        check_len("sigmoid_backward h", h.len(), d.len())?;
        (self.table.sigmoid_backward)(d, h);
        Ok(())
    }

    /// `d ← d ⊙ (1-h²)`, tanh's derivative taken from its output h.
    pub fn tanh_backward(&self, d: &mut [f32], h: &[f32]) -> Result<()> {
        check_len("tanh_backward h", h.len(), d.len())?;
        (self.table.tanh_backward)(d, h);
        Ok(())
    }

    /// `d ← d ⊙ [h > 0]`, ReLU's derivative taken from its output h.
    pub fn relu_backward(&self, d: &mut [f32], h: &[f32]) -> Result<()> {
        check_len("relu_backward h", h.len(), d.len())?;
        (self.table.relu_backward)(d, h);
        Ok(())
    }

    /// `y ← softmax(y + b)` per row, the row maximum subtracted first.
    pub fn softmax_rows(&self, y: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("softmax_rows y", y.len(), b.len())?;
        (self.table.softmax_rows)(y, b);
        Ok(())
    }

    fn check_head(h: &HeadRows<'_>) -> Result<()> {
        check_rows("head logits", h.s.len(), h.b.len())?;
        check_len("head targets", h.t.len(), h.s.len())?;
        check_len("head delta", h.delta.len(), h.s.len())?;
        check_len("head loss rows", h.loss.len(), h.s.len() / h.b.len())?;
        h.weights.map_or(Ok(()), |w| check_len("head row weights", w.len(), h.loss.len()))
    }

    /// Softmax head, fused: logits `s` (bias `b` not yet added) become
    /// `y = softmax(s+b)`; `loss[r] = -Σ t·(s - logsumexp s)`;
    /// `delta = (y - t)·scale`.
    pub fn softmax_loss(&self, h: HeadRows<'_>) -> Result<()> {
        Self::check_head(&h)?;
        (self.table.softmax_loss)(h);
        Ok(())
    }

    /// Logistic head, fused: `y = σ(s+b)`; `loss[r] = Σ softplus(s) - t·s`
    /// (the binary cross-entropy); `delta = (y - t)·scale`.
    pub fn logistic_loss(&self, h: HeadRows<'_>) -> Result<()> {
        Self::check_head(&h)?;
        (self.table.logistic_loss)(h);
        Ok(())
    }

    /// Linear head, fused: `y = s+b`; `loss[r] = ½ Σ (y - t)²`;
    /// `delta = (y - t)·scale`.
    pub fn linear_loss(&self, h: HeadRows<'_>) -> Result<()> {
        Self::check_head(&h)?;
        (self.table.linear_loss)(h);
        Ok(())
    }

    /// Poisson head, fused: `y = e^(s+b)`; `loss[r] = Σ e^s - t·s` (the
    /// negative log-likelihood without the `ln t!` term, from the logits, so
    /// that it is finite while `y` is); `delta = (y - t)·scale`.
    pub fn poisson_loss(&self, h: HeadRows<'_>) -> Result<()> {
        Self::check_head(&h)?;
        (self.table.poisson_loss)(h);
        Ok(())
    }

    /// `y ← e^(y + b)`: the Poisson head's outputs.
    pub fn bias_exp(&self, y: &mut [f32], b: &[f32]) -> Result<()> {
        check_rows("bias_exp y", y.len(), b.len())?;
        (self.table.bias_exp)(y, b);
        Ok(())
    }

    /// `out[c] ← out[c] + Σ_r m[r][c]`, rows added in order (bias
    /// gradients, accumulated shard after shard).
    pub fn col_sums(&self, out: &mut [f32], m: &[f32]) -> Result<()> {
        check_rows("col_sums m", m.len(), out.len())?;
        (self.table.col_sums)(out, m);
        Ok(())
    }

    /// `Σ x²`, accumulated in f64 (the squared norm of gradients up to the
    /// f32 maximum stays finite; the order of the sums is the path's).
    pub fn sum_squares(&self, x: &[f32]) -> f64 {
        (self.table.sum_squares)(x)
    }

    /// One SGD step over parameters `w`, gradients `g` and, with momentum,
    /// the buffer `buf` (else empty), in one pass: PyTorch's `SGD` rule,
    /// see [`SgdStep`].
    pub fn sgd_update(&self, w: &mut [f32], g: &[f32], buf: &mut [f32], p: SgdStep) -> Result<()> {
        self.sgd_update_from(Rewrite::in_place(w), g, Rewrite::in_place(buf), p)
    }

    /// [`sgd_update`](Self::sgd_update) from old values that may lie
    /// elsewhere ([`Rewrite`]), in one pass that reads them and writes the
    /// new ones.
    pub fn sgd_update_from(&self, w: Rewrite<'_>, g: &[f32], buf: Rewrite<'_>, p: SgdStep) -> Result<()> {
        let n = check_rewrite("sgd parameters", &w, None)?;
        check_len("sgd gradients", g.len(), n)?;
        check_rewrite("sgd momentum buffer", &buf, Some(if p.momentum != 0.0 { n } else { 0 }))?;
        (self.table.sgd_update)(w, g, buf, p);
        Ok(())
    }

    /// One Adam or AdamW step over parameters `w`, gradients `g` and the
    /// moments `m`, `v`, in one pass: PyTorch's rule, see [`AdamStep`].
    pub fn adam_update(&self, w: &mut [f32], g: &[f32], [m, v]: [&mut [f32]; 2], p: AdamStep) -> Result<()> {
        let slots = [Rewrite::in_place(m), Rewrite::in_place(v)];
        self.adam_update_from(Rewrite::in_place(w), g, slots, p)
    }

    /// [`adam_update`](Self::adam_update) from old values that may lie
    /// elsewhere ([`Rewrite`]), in one pass.
    pub fn adam_update_from(&self, w: Rewrite<'_>, g: &[f32], [m, v]: [Rewrite<'_>; 2], p: AdamStep) -> Result<()> {
        let n = check_rewrite("adam parameters", &w, None)?;
        check_len("adam gradients", g.len(), n)?;
        check_rewrite("adam first moments", &m, Some(n))?;
        check_rewrite("adam second moments", &v, Some(n))?;
        (self.table.adam_update)(w, g, [m, v], p);
        Ok(())
    }

    /// `out ← a·m`, or `out ← out + a·m` with `accumulate`, skipping the
    /// zeros of `a` ([`SparseOperands`]); `out` is `lines × c`.
    /// Each value is `Σ_{k: a[r][k] ≠ 0} a[r][k]·m[k·ld + j]`, one fused
    /// multiply-add per nonzero in increasing `k` (fused on every path but
    /// `wide`), from zero or, when accumulating, from the value `out`
    /// holds: the chain of the GEMM ([`gemm`](gemm::gemm)). Lines
    /// go in threes (the last one or two together) that read each row of
    /// `m` once: where any line of a group is nonzero, each takes the term,
    /// so a zero there adds `0·m`, which is nothing while `m` is finite and
    /// NaN (as in a dense product) where `m` is infinite or NaN.
    pub fn nonzero_product(&self, out: &mut [f32], p: SparseOperands<'_>, accumulate: bool) -> Result<()> {
        let SparseOperands { a, depth, m, ld } = p;
        check_rows("nonzero_product a", a.len(), depth)?;
        let lines = a.len() / depth;
        if lines == 0 {
            return check_len("nonzero_product out", out.len(), 0);
        }
        check_rows("nonzero_product out", out.len(), lines)?;
        let c = out.len() / lines;
        let reach = (depth - 1).checked_mul(ld).and_then(|e| e.checked_add(c));
        if c > 0 && reach.is_none_or(|e| e > m.len()) {
            let want = format!("{depth} rows of {c} values, {ld} apart");
            return Err(Error::shape("nonzero_product m", want, m.len()));
        }
        (self.table.nonzero_product)(out, p, accumulate);
        Ok(())
    }

    /// How many values of `x` are not ±0 (NaN counts).
    pub fn count_nonzeros(&self, x: &[f32]) -> usize {
        (self.table.count_nonzeros)(x)
    }
}

/// The length of a [`Rewrite`] whose old values are as many as its new
/// ones, and `expected` when given.
fn check_rewrite(what: &str, r: &Rewrite<'_>, expected: Option<usize>) -> Result<usize> {
    let n = r.to.len();
    let old = r.len().ok_or_else(|| Error::shape(format!("{what} (old values)"), n, r.from.map_or(n, <[f32]>::len)))?;
    if let Some(e) = expected {
        check_len(what, old, e)?;
    }
    Ok(old)
}
