//! The vector kernels, written once over a [`Lane`] and instantiated per
//! instruction set by `kernels::simd::table!`. Every kernel here has a plain twin in
//! `kernels::scalar` that is its fallback and its test oracle.
//!
//! Elementwise operations are zero-sized types with `#[inline(always)]`
//! methods rather than closures: a closure the optimiser declines to inline
//! would be compiled outside the `#[target_feature]` function, without the
//! vector instructions (and with `mul_add` as a libm call).
//!
//! Matrices are row-major; `cols` is the bias length (or `out.len()` for
//! column sums). Lengths are checked by the dispatcher in `kernels`, so the
//! slices here always hold whole rows.

use super::arch::Lane;
use super::math;
use super::HeadRows;
use std::marker::PhantomData;

/// `v ↦ f(v, k)`, `k` a constant of the call.
pub(crate) trait Unary {
    fn f<V: Lane>(v: V, k: V) -> V;
}

/// `(a, b) ↦ f(a, b, k)`, `k` a constant of the call.
pub(crate) trait Binary {
    fn f<V: Lane>(a: V, b: V, k: V) -> V;
}

macro_rules! unary {
    ($name:ident, |$v:ident, $k:ident| $e:expr) => {
        pub(crate) struct $name;
        impl Unary for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn f<V: Lane>($v: V, $k: V) -> V {
                $e
            }
        }
    };
}

macro_rules! binary {
    ($name:ident, |$a:ident, $b:ident, $k:ident| $e:expr) => {
        pub(crate) struct $name;
        impl Binary for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn f<V: Lane>($a: V, $b: V, $k: V) -> V {
                $e
            }
        }
    };
}

unary!(Identity, |v, k| v);
unary!(Sigmoid, |v, k| math::sigmoid(v));
unary!(Tanh, |v, k| math::tanh(v));
// `v < 0 ? 0 : v` keeps NaN, as PyTorch's ReLU does.
unary!(Relu, |v, k| V::select_lt(v, V::splat(v.token(), 0.0), V::splat(v.token(), 0.0), v));
unary!(ExpShift, |v, k| math::exp(v - k));
unary!(DivBy, |v, k| v / k);
unary!(Exp, |v, k| math::exp(v));

binary!(SigmoidBwd, |d, h, k| d * (h - h * h));
binary!(TanhBwd, |d, h, k| d * (V::splat(h.token(), 1.0) - h * h));
binary!(ReluBwd, |d, h, k| V::select_gt(h, V::splat(h.token(), 0.0), d, V::splat(h.token(), 0.0)));
binary!(Plus, |a, b, k| a + b);
binary!(SubScale, |y, t, k| (y - t) * k);
binary!(TShift, |s, t, k| t * (s - k));
binary!(First, |a, b, k| a);
binary!(SoftplusMinusTs, |s, t, k| math::softplus(s) - t * s);
binary!(SqDiff, |y, t, k| (y - t) * (y - t));
binary!(ExpMinusTs, |s, t, k| math::exp(s) - t * s);

/// `a + b`, then the unary `U`: the bias entering an activation.
pub(crate) struct AddThen<U>(PhantomData<U>);
impl<U: Unary> Binary for AddThen<U> {
    #[inline(always)]
    fn f<V: Lane>(a: V, b: V, k: V) -> V {
        U::f(a + b, k)
    }
}

/// `x ← U(x, k)` over a slice.
#[inline(always)]
fn map<V: Lane, U: Unary>(tk: V::Token, x: &mut [f32], k: f32) {
    let k = V::splat(tk, k);
    let mut it = x.chunks_exact_mut(V::N);
    for c in &mut it {
        U::f(V::load(tk, c), k).store(c);
    }
    let rem = it.into_remainder();
    if !rem.is_empty() {
        U::f(V::load_partial(tk, rem), k).store_partial(rem);
    }
}

/// `x ← B(x, y, k)` over two slices of equal length.
#[inline(always)]
fn zip_map<V: Lane, B: Binary>(tk: V::Token, x: &mut [f32], y: &[f32], k: f32) {
    debug_assert_eq!(x.len(), y.len());
    let k = V::splat(tk, k);
    let mut xs = x.chunks_exact_mut(V::N);
    let mut ys = y.chunks_exact(V::N);
    for (c, d) in (&mut xs).zip(&mut ys) {
        B::f(V::load(tk, c), V::load(tk, d), k).store(c);
    }
    let rem = xs.into_remainder();
    if !rem.is_empty() {
        B::f(V::load_partial(tk, rem), V::load_partial(tk, ys.remainder()), k).store_partial(rem);
    }
}

/// `Σ B(a, b, k)` over two slices of equal length: lanes accumulated, then
/// summed pairwise, then the tail.
#[inline(always)]
fn zip_sum<V: Lane, B: Binary>(tk: V::Token, a: &[f32], b: &[f32], k: f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let k = V::splat(tk, k);
    let mut acc = V::splat(tk, 0.0);
    let mut xs = a.chunks_exact(V::N);
    let mut ys = b.chunks_exact(V::N);
    for (c, d) in (&mut xs).zip(&mut ys) {
        acc = acc + B::f(V::load(tk, c), V::load(tk, d), k);
    }
    let mut total = acc.reduce_add();
    let rem = xs.remainder();
    if !rem.is_empty() {
        let mut tail = [0.0f32; 64];
        let tail = &mut tail[..rem.len()];
        B::f(V::load_partial(tk, rem), V::load_partial(tk, ys.remainder()), k).store_partial(tail);
        total += tail.iter().sum::<f32>();
    }
    total
}

/// Applies `U(x + b)` to each row of `x`.
#[inline(always)]
fn rows_bias<V: Lane, U: Unary>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        zip_map::<V, AddThen<U>>(tk, row, b, 0.0);
    }
}

/// `x[r][c] += b[c]`.
#[inline(always)]
pub(crate) fn bias_identity<V: Lane>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    rows_bias::<V, Identity>(tk, x, b);
}

/// `x[r][c] = σ(x[r][c] + b[c])`.
#[inline(always)]
pub(crate) fn bias_sigmoid<V: Lane>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    rows_bias::<V, Sigmoid>(tk, x, b);
}

/// `x[r][c] = tanh(x[r][c] + b[c])`.
#[inline(always)]
pub(crate) fn bias_tanh<V: Lane>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    rows_bias::<V, Tanh>(tk, x, b);
}

/// `x[r][c] = e^(x[r][c] + b[c])`.
#[inline(always)]
pub(crate) fn bias_exp<V: Lane>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    rows_bias::<V, Exp>(tk, x, b);
}

/// `x[r][c] = max(x[r][c] + b[c], 0)`.
#[inline(always)]
pub(crate) fn bias_relu<V: Lane>(tk: V::Token, x: &mut [f32], b: &[f32]) {
    rows_bias::<V, Relu>(tk, x, b);
}

/// `d ← d ⊙ h(1-h)`: the sigmoid's derivative from its output.
#[inline(always)]
pub(crate) fn sigmoid_backward<V: Lane>(tk: V::Token, d: &mut [f32], h: &[f32]) {
    zip_map::<V, SigmoidBwd>(tk, d, h, 0.0);
}

/// `d ← d ⊙ (1-h²)`: tanh's derivative from its output.
#[inline(always)]
pub(crate) fn tanh_backward<V: Lane>(tk: V::Token, d: &mut [f32], h: &[f32]) {
    zip_map::<V, TanhBwd>(tk, d, h, 0.0);
}

/// `d ← d ⊙ [h > 0]`: ReLU's derivative from its output.
#[inline(always)]
pub(crate) fn relu_backward<V: Lane>(tk: V::Token, d: &mut [f32], h: &[f32]) {
    zip_map::<V, ReluBwd>(tk, d, h, 0.0);
}

/// Row maximum (rows are never empty here).
#[inline(always)]
fn row_max<V: Lane>(tk: V::Token, row: &[f32]) -> f32 {
    let mut it = row.chunks_exact(V::N);
    let mut m = V::splat(tk, f32::NEG_INFINITY);
    for c in &mut it {
        m = m.max(V::load(tk, c));
    }
    let mut m = m.reduce_max();
    for &v in it.remainder() {
        if v > m {
            m = v;
        }
    }
    m
}

/// Adds the bias to a row of logits and turns it into `e^(s - max)` in
/// place; returns `(Σ e^(s - max), Σ t·(s - max))` (the second only when
/// targets are given).
#[inline(always)]
fn softmax_exp_row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: Option<&[f32]>) -> (f32, f32) {
    zip_map::<V, Plus>(tk, row, b, 0.0);
    let m = row_max::<V>(tk, row);
    let ts = t.map_or(0.0, |t| zip_sum::<V, TShift>(tk, row, t, m));
    map::<V, ExpShift>(tk, row, m);
    (zip_sum::<V, First>(tk, row, row, 0.0), ts)
}

/// `y ← softmax(y + b)` row by row, the row maximum subtracted first.
#[inline(always)]
pub(crate) fn softmax_rows<V: Lane>(tk: V::Token, y: &mut [f32], b: &[f32]) {
    for row in y.chunks_exact_mut(b.len()) {
        let (sum, _) = softmax_exp_row::<V>(tk, row, b, None);
        map::<V, DivBy>(tk, row, sum);
    }
}

/// `delta = (y - t)·scale` for one row.
#[inline(always)]
fn delta_row<V: Lane>(tk: V::Token, delta: &mut [f32], y: &[f32], t: &[f32], scale: f32) {
    delta.copy_from_slice(y);
    zip_map::<V, SubScale>(tk, delta, t, scale);
}

/// A head's work on one row: the logits (bias not yet added) become the
/// outputs `y`; returns the row's error.
trait RowHead {
    fn row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: &[f32]) -> f32;
}

/// `y = softmax(s + b)`; `E = Σt·ln Σe^(s-max) - Σ t·(s - max) = -Σ t (s - logsumexp s)`.
struct SoftmaxRow;
impl RowHead for SoftmaxRow {
    #[inline(always)]
    fn row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: &[f32]) -> f32 {
        let (sum, ts) = softmax_exp_row::<V>(tk, row, b, Some(t));
        let tsum = zip_sum::<V, First>(tk, t, t, 0.0);
        let e = tsum * sum.ln() - ts;
        map::<V, DivBy>(tk, row, sum);
        e
    }
}

/// `y = σ(s + b)`; `E = Σ softplus(s) - t·s`.
struct LogisticRow;
impl RowHead for LogisticRow {
    #[inline(always)]
    fn row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: &[f32]) -> f32 {
        zip_map::<V, Plus>(tk, row, b, 0.0);
        let e = zip_sum::<V, SoftplusMinusTs>(tk, row, t, 0.0);
        map::<V, Sigmoid>(tk, row, 0.0);
        e
    }
}

/// `y = s + b`; `E = ½ Σ (y - t)²`.
struct LinearRow;
impl RowHead for LinearRow {
    #[inline(always)]
    fn row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: &[f32]) -> f32 {
        zip_map::<V, Plus>(tk, row, b, 0.0);
        0.5 * zip_sum::<V, SqDiff>(tk, row, t, 0.0)
    }
}

/// `y = e^(s + b)`; `E = Σ e^s - t·s`.
struct PoissonRow;
impl RowHead for PoissonRow {
    #[inline(always)]
    fn row<V: Lane>(tk: V::Token, row: &mut [f32], b: &[f32], t: &[f32]) -> f32 {
        zip_map::<V, Plus>(tk, row, b, 0.0);
        let e = zip_sum::<V, ExpMinusTs>(tk, row, t, 0.0);
        map::<V, Exp>(tk, row, 0.0);
        e
    }
}

/// A fused head over its rows ([`HeadRows`]): each row's outputs and
/// error by `H`, then `delta = (y - t)·scale·w`.
#[inline(always)]
fn fused_head<V: Lane, H: RowHead>(tk: V::Token, h: HeadRows<'_>) {
    let HeadRows { s, b, t, delta, loss, scale, weights } = h;
    let c = b.len();
    let scales = HeadRows::row_scales(weights, scale, loss.len());
    let rows = s.chunks_exact_mut(c).zip(t.chunks_exact(c)).zip(delta.chunks_exact_mut(c));
    for ((((row, trow), drow), e), scale) in rows.zip(loss.iter_mut()).zip(scales) {
        *e = H::row::<V>(tk, row, b, trow);
        delta_row::<V>(tk, drow, row, trow, scale);
    }
}

/// Softmax head, fused ([`SoftmaxRow`]).
#[inline(always)]
pub(crate) fn softmax_loss<V: Lane>(tk: V::Token, h: HeadRows<'_>) {
    fused_head::<V, SoftmaxRow>(tk, h);
}

/// Logistic head, fused ([`LogisticRow`]).
#[inline(always)]
pub(crate) fn logistic_loss<V: Lane>(tk: V::Token, h: HeadRows<'_>) {
    fused_head::<V, LogisticRow>(tk, h);
}

/// Linear head, fused ([`LinearRow`]).
#[inline(always)]
pub(crate) fn linear_loss<V: Lane>(tk: V::Token, h: HeadRows<'_>) {
    fused_head::<V, LinearRow>(tk, h);
}

/// Poisson head, fused ([`PoissonRow`]).
#[inline(always)]
pub(crate) fn poisson_loss<V: Lane>(tk: V::Token, h: HeadRows<'_>) {
    fused_head::<V, PoissonRow>(tk, h);
}

/// `out[c] += Σ_r m[r][c]`, rows added in order.
#[inline(always)]
pub(crate) fn col_sums<V: Lane>(tk: V::Token, out: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(out.len()) {
        zip_map::<V, Plus>(tk, out, row, 0.0);
    }
}
