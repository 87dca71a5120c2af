//! Plain scalar twins of the vector kernels: written straight from the
//! equations with the standard library's `exp`, `ln` and `tanh`. They are the
//! fallback where no vector path applies (`BACKPROP_SIMD=scalar` forces them)
//! and the oracle every vector kernel is tested against.

use super::update::{AdamStep, Rewrite, SgdStep};
use super::{HeadRows, SparseOperands};

/// `σ(x)` with `e^-|x|`, so that no branch overflows.
pub(crate) fn sigmoid(x: f32) -> f32 {
    let z = (-x.abs()).exp();
    if x < 0.0 {
        z / (1.0 + z)
    } else {
        1.0 / (1.0 + z)
    }
}

/// `softplus(x) = max(x, 0) + ln(1 + e^-|x|)`.
pub(crate) fn softplus1(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn map_bias(x: &mut [f32], b: &[f32], f: impl Fn(f32) -> f32) {
    for row in x.chunks_exact_mut(b.len()) {
        for (v, &w) in row.iter_mut().zip(b) {
            *v = f(*v + w);
        }
    }
}

/// `x[r][c] += b[c]`.
pub(crate) fn bias_identity(x: &mut [f32], b: &[f32]) {
    map_bias(x, b, |v| v);
}

/// `x[r][c] = σ(x[r][c] + b[c])`.
pub(crate) fn bias_sigmoid(x: &mut [f32], b: &[f32]) {
    map_bias(x, b, sigmoid);
}

/// `x[r][c] = tanh(x[r][c] + b[c])`.
pub(crate) fn bias_tanh(x: &mut [f32], b: &[f32]) {
    map_bias(x, b, f32::tanh);
}

/// `x[r][c] = e^(x[r][c] + b[c])`.
pub(crate) fn bias_exp(x: &mut [f32], b: &[f32]) {
    map_bias(x, b, f32::exp);
}

/// `x[r][c] = max(x[r][c] + b[c], 0)`.
pub(crate) fn bias_relu(x: &mut [f32], b: &[f32]) {
    map_bias(x, b, |v| if v < 0.0 { 0.0 } else { v });
}

/// `d ← d ⊙ h(1-h)`.
pub(crate) fn sigmoid_backward(d: &mut [f32], h: &[f32]) {
    for (d, &h) in d.iter_mut().zip(h) {
        *d *= h - h * h;
    }
}

/// `d ← d ⊙ (1-h²)`.
pub(crate) fn tanh_backward(d: &mut [f32], h: &[f32]) {
    for (d, &h) in d.iter_mut().zip(h) {
        *d *= 1.0 - h * h;
    }
}

/// `d ← d ⊙ [h > 0]`.
pub(crate) fn relu_backward(d: &mut [f32], h: &[f32]) {
    for (d, &h) in d.iter_mut().zip(h) {
        if h <= 0.0 || h.is_nan() {
            *d = 0.0;
        }
    }
}

/// `row ← e^(row + b - max)`; returns `(Σ e, Σ t·(s - max))`.
fn softmax_exp_row(row: &mut [f32], b: &[f32], t: Option<&[f32]>) -> (f32, f32) {
    for (v, &w) in row.iter_mut().zip(b) {
        *v += w;
    }
    let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let ts = t.map_or(0.0, |t| row.iter().zip(t).map(|(&s, &t)| t * (s - m)).sum());
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    (sum, ts)
}

/// `y ← softmax(y + b)` row by row.
pub(crate) fn softmax_rows(y: &mut [f32], b: &[f32]) {
    for row in y.chunks_exact_mut(b.len()) {
        let (sum, _) = softmax_exp_row(row, b, None);
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}

fn delta_row(delta: &mut [f32], y: &[f32], t: &[f32], scale: f32) {
    for ((d, &y), &t) in delta.iter_mut().zip(y).zip(t) {
        *d = (y - t) * scale;
    }
}

/// A fused head over its rows ([`HeadRows`]): `row` turns each row's
/// logits (bias `b` not yet added) into its outputs and returns its error;
/// then `δ = (y - t)·scale·w`.
fn fused_head(h: HeadRows<'_>, row: impl Fn(&mut [f32], &[f32], &[f32]) -> f32) {
    let HeadRows { s, b, t, delta, loss, scale, weights } = h;
    let c = b.len();
    let scales = HeadRows::row_scales(weights, scale, loss.len());
    let rows = s.chunks_exact_mut(c).zip(t.chunks_exact(c)).zip(delta.chunks_exact_mut(c));
    for ((((y, trow), drow), e), scale) in rows.zip(loss.iter_mut()).zip(scales) {
        *e = row(y, b, trow);
        delta_row(drow, y, trow, scale);
    }
}

/// Softmax head: `y = softmax(s + b)`, `loss = -Σ t (s - lse)`, `δ = (y-t)·scale·w`.
pub(crate) fn softmax_loss(h: HeadRows<'_>) {
    fused_head(h, |row, b, t| {
        let (sum, ts) = softmax_exp_row(row, b, Some(t));
        let tsum: f32 = t.iter().sum();
        for v in row.iter_mut() {
            *v /= sum;
        }
        tsum * sum.ln() - ts
    });
}

/// Logistic head: `y = σ(s + b)`, `loss = Σ softplus(s) - t·s`, `δ = (y-t)·scale·w`.
pub(crate) fn logistic_loss(h: HeadRows<'_>) {
    fused_head(h, |row, b, t| {
        let mut e = 0.0;
        for ((v, &w), &t) in row.iter_mut().zip(b).zip(t) {
            let s = *v + w;
            e += softplus1(s) - t * s;
            *v = sigmoid(s);
        }
        e
    });
}

/// Linear head: `y = s + b`, `loss = ½ Σ (y - t)²`, `δ = (y-t)·scale·w`.
pub(crate) fn linear_loss(h: HeadRows<'_>) {
    fused_head(h, |row, b, t| {
        let mut e = 0.0;
        for ((v, &w), &t) in row.iter_mut().zip(b).zip(t) {
            *v += w;
            e += (*v - t) * (*v - t);
        }
        0.5 * e
    });
}

/// Poisson head: `y = e^(s + b)`, `loss = Σ e^s - t·s`, `δ = (y-t)·scale·w`.
pub(crate) fn poisson_loss(h: HeadRows<'_>) {
    fused_head(h, |row, b, t| {
        let mut e = 0.0;
        for ((v, &w), &t) in row.iter_mut().zip(b).zip(t) {
            let s = *v + w;
            *v = s.exp();
            e += *v - t * s;
        }
        e
    });
}

/// `out[c] += Σ_r m[r][c]`, rows added in order.
pub(crate) fn col_sums(out: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// `out[r][j] (+)= Σ_{k: a[r][k] ≠ 0} a[r][k]·m[k·ld + j]`: one fused
/// multiply-add per term, in increasing `k`, from zero or (with
/// `accumulate`) from the value `out` holds. Lines go in groups of three, as in
/// the vector kernel (the last one or two together): a position where any
/// line of a group is nonzero is a term of each.
pub(crate) fn nonzero_product(out: &mut [f32], p: SparseOperands<'_>, accumulate: bool) {
    let SparseOperands { a, depth, m, ld } = p;
    let lines = a.len() / depth;
    if lines == 0 || out.is_empty() {
        return;
    }
    let c = out.len() / lines;
    let group = crate::kernels::sparse::GROUP;
    for (o, a) in out.chunks_mut(group * c).zip(a.chunks(group * depth)) {
        let term = |k: usize| a.chunks_exact(depth).any(|line| line[k] != 0.0);
        for (line, row) in a.chunks_exact(depth).zip(o.chunks_exact_mut(c)) {
            for (j, v) in row.iter_mut().enumerate() {
                let start = if accumulate { *v } else { 0.0 };
                *v = (0..depth).filter(|&k| term(k)).fold(start, |acc, k| line[k].mul_add(m[k * ld + j], acc));
            }
        }
    }
}

/// How many values of `x` are not ±0 (NaN counts).
pub(crate) fn count_nonzeros(x: &[f32]) -> usize {
    x.iter().filter(|&&v| v != 0.0).count()
}

/// `Σ x²` in f64, left to right.
pub(crate) fn sum_squares(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

/// One SGD step (see `kernels::update::sgd_update`).
pub(crate) fn sgd_update(w: Rewrite<'_>, g: &[f32], buf: Rewrite<'_>, p: SgdStep) {
    for (i, &g) in g.iter().enumerate() {
        let old = w.old()[i];
        let mut g = g * p.grad_scale;
        if p.weight_decay != 0.0 {
            g += p.weight_decay * old;
        }
        if p.momentum != 0.0 {
            let b = if p.first { g } else { buf.old()[i] * p.momentum + g };
            buf.to[i] = b;
            g = if p.nesterov { g + p.momentum * b } else { b };
        }
        w.to[i] = old + -p.lr * g;
    }
}

/// One Adam/AdamW step (see `kernels::update::adam_update`).
pub(crate) fn adam_update(w: Rewrite<'_>, g: &[f32], [m, v]: [Rewrite<'_>; 2], p: AdamStep) {
    for (i, &g) in g.iter().enumerate() {
        let mut old = w.old()[i];
        let mut g = g * p.grad_scale;
        if p.l2 != 0.0 {
            g += p.l2 * old;
        }
        if p.decay != 1.0 {
            old *= p.decay;
        }
        let mi = m.old()[i] + p.one_minus_beta1 * (g - m.old()[i]);
        let vi = v.old()[i] * p.beta2 + p.one_minus_beta2 * g * g;
        (m.to[i], v.to[i]) = (mi, vi);
        let denom = vi.sqrt() / p.bc2_sqrt + p.eps;
        w.to[i] = old + -p.lr_bc1 * mi / denom;
    }
}
