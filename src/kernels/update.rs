//! The optimizer updates, one fused pass over parameters, gradients and
//! state, written once over a [`Lane`] (see `kernels::generic`) with plain
//! scalar twins in `kernels::scalar`. The operation order follows
//! PyTorch's `torch.optim` kernels, so that the two round alike where they
//! can; the twins use the same order, so every path gives the same bits.

use super::arch::Lane;

/// The scalars of one SGD step (PyTorch's `torch.optim.SGD`, dampening 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// Momentum μ (0: plain SGD, no buffer).
    pub momentum: f32,
    /// L2 penalty λ, added to the gradient: `g ← g + λ·w`.
    pub weight_decay: f32,
    /// Nesterov momentum: step along `g + μ·b` instead of `b`.
    pub nesterov: bool,
    /// The first step: the momentum buffer becomes the gradient itself.
    pub first: bool,
    /// Factor applied to the gradient first (global-norm clipping; 1 = none).
    pub grad_scale: f32,
}

/// The scalars of one Adam or AdamW step (PyTorch's `torch.optim.Adam` and
/// `AdamW`, without amsgrad), with the bias corrections folded in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// `lr / (1 - β1^t)`.
    pub lr_bc1: f32,
    /// `1 - β1`.
    pub one_minus_beta1: f32,
    /// β2.
    pub beta2: f32,
    /// `1 - β2`.
    pub one_minus_beta2: f32,
    /// `√(1 - β2^t)`.
    pub bc2_sqrt: f32,
    /// ε, added to the denominator.
    pub eps: f32,
    /// Adam: the L2 penalty added to the gradient (`g ← g + λ·w`); 0 for AdamW.
    pub l2: f32,
    /// AdamW: the decoupled decay `w ← w·(1 - lr·λ)` (1 for Adam).
    pub decay: f32,
    /// Factor applied to the gradient first (global-norm clipping; 1 = none).
    pub grad_scale: f32,
}

/// `Σ x²` in f64, so that gradients up to the f32 maximum give a finite
/// norm. A plain loop over 32 independent f64 sums, which the compiler
/// vectorises inside each table's `#[target_feature]` function into four
/// independent chains of f64 vectors (the f64 lanes are another width than
/// `V`'s, so it is not written over `V`); the 32 sums are then added
/// pairwise.
#[inline(always)]
pub(crate) fn sum_squares<V: Lane>(_: V::Token, x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 32];
    let mut it = x.chunks_exact(32);
    for c in &mut it {
        for (a, &v) in acc.iter_mut().zip(c) {
            let v = v as f64;
            *a += v * v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(it.remainder()) {
        let v = v as f64;
        *a += v * v;
    }
    let mut w = 32;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0]
}

/// Runs `f` over aligned chunks of up to four slices (`b`, `c`, `d` may be
/// empty when unused), the tail zero-padded through partial loads.
macro_rules! for_lanes {
    ($V:ty, $n:expr, |$i:ident, $len:ident| $body:block) => {{
        let n = $n;
        let mut $i = 0;
        while $i < n {
            let $len = (n - $i).min(<$V>::N);
            $body
            $i += <$V>::N;
        }
    }};
}

#[inline(always)]
fn ld<V: Lane>(tk: V::Token, s: &[f32], i: usize, len: usize) -> V {
    if len == V::N {
        V::load(tk, &s[i..])
    } else {
        V::load_partial(tk, &s[i..i + len])
    }
}

#[inline(always)]
fn st<V: Lane>(v: V, s: &mut [f32], i: usize, len: usize) {
    if len == V::N {
        v.store(&mut s[i..])
    } else {
        v.store_partial(&mut s[i..i + len])
    }
}

/// A buffer an update rewrites: the old values are read from `from`, or
/// from `to` itself when `from` is `None` (in place), and the new values
/// are written to `to`. Out of place, the update is one pass that reads the
/// old state and writes the new (no copy first); `from` is left unchanged.
#[derive(Debug)]
pub struct Rewrite<'a> {
    /// Where the new values go.
    pub to: &'a mut [f32],
    /// Where the old values are, when not in `to`: as long as `to`.
    pub from: Option<&'a [f32]>,
}

impl<'a> Rewrite<'a> {
    /// `to` updated in place.
    pub fn in_place(to: &'a mut [f32]) -> Rewrite<'a> {
        Rewrite { to, from: None }
    }

    /// `from` updated into `to`.
    pub fn from(from: &'a [f32], to: &'a mut [f32]) -> Rewrite<'a> {
        Rewrite { to, from: Some(from) }
    }

    /// The old values.
    #[inline(always)]
    pub(crate) fn old(&self) -> &[f32] {
        self.from.unwrap_or(self.to)
    }

    /// The number of values, when `from` (if any) has as many as `to`.
    pub(crate) fn len(&self) -> Option<usize> {
        self.from.is_none_or(|f| f.len() == self.to.len()).then_some(self.to.len())
    }
}

/// One SGD step over `w`, `g` and (with momentum) the buffer `buf`:
///
/// ```text
/// g ← g·s + λ·w;  b ← first ? g : μ·b + g;  d ← nesterov ? g + μ·b : b;  w ← w - lr·d
/// ```
///
/// `w` and `buf` are read from their old values and written to their new
/// ones ([`Rewrite`]); the first step does not read `buf`.
#[inline(always)]
pub(crate) fn sgd_update<V: Lane>(tk: V::Token, w: Rewrite<'_>, g: &[f32], buf: Rewrite<'_>, p: SgdStep) {
    let (neg_lr, mu, wd, scale) =
        (V::splat(tk, -p.lr), V::splat(tk, p.momentum), V::splat(tk, p.weight_decay), V::splat(tk, p.grad_scale));
    let momentum = p.momentum != 0.0;
    for_lanes!(V, w.to.len(), |i, len| {
        let wv: V = ld(tk, w.old(), i, len);
        let mut gv = ld::<V>(tk, g, i, len) * scale;
        if p.weight_decay != 0.0 {
            gv = gv + wd * wv;
        }
        if momentum {
            let b = if p.first { gv } else { ld::<V>(tk, buf.old(), i, len) * mu + gv };
            st(b, buf.to, i, len);
            gv = if p.nesterov { gv + mu * b } else { b };
        }
        st(wv + neg_lr * gv, w.to, i, len);
    });
}

/// One Adam/AdamW step over `w`, `g` and the moments `m`, `v`:
///
/// ```text
/// g ← g·s + λ_L2·w;  w ← w·decay;  m ← m + (1-β1)(g - m);  v ← v·β2 + (1-β2)·g·g
/// w ← w - lr_bc1·m / (√v / √(1-β2^t) + ε)
/// ```
///
/// `w`, `m` and `v` are read from their old values and written to their
/// new ones ([`Rewrite`]).
#[inline(always)]
pub(crate) fn adam_update<V: Lane>(tk: V::Token, w: Rewrite<'_>, g: &[f32], [m, v]: [Rewrite<'_>; 2], p: AdamStep) {
    let (omb1, b2, omb2) = (V::splat(tk, p.one_minus_beta1), V::splat(tk, p.beta2), V::splat(tk, p.one_minus_beta2));
    let (neg_step, bc2, eps, l2, decay, scale) = (
        V::splat(tk, -p.lr_bc1),
        V::splat(tk, p.bc2_sqrt),
        V::splat(tk, p.eps),
        V::splat(tk, p.l2),
        V::splat(tk, p.decay),
        V::splat(tk, p.grad_scale),
    );
    for_lanes!(V, w.to.len(), |i, len| {
        let mut wv: V = ld(tk, w.old(), i, len);
        let mut gv = ld::<V>(tk, g, i, len) * scale;
        if p.l2 != 0.0 {
            gv = gv + l2 * wv;
        }
        if p.decay != 1.0 {
            wv = wv * decay;
        }
        let mv = ld::<V>(tk, m.old(), i, len);
        let mv = mv + omb1 * (gv - mv);
        let vv = ld::<V>(tk, v.old(), i, len) * b2 + omb2 * gv * gv;
        st(mv, m.to, i, len);
        st(vv, v.to, i, len);
        let denom = vv.sqrt() / bc2 + eps;
        st(wv + neg_step * mv / denom, w.to, i, len);
    });
}
