//! The table of vector kernels one instruction-set path runs, and the macro
//! that fills one from the generic kernels. The x86 tables live in
//! `kernels::arch`, each handed out only for its token; the `wide` table
//! and the scalar twins' table are here.

use super::arch::portable::Wide;
use super::scalar;
use super::update::{AdamStep, Rewrite, SgdStep};

/// `fn(x, bias)` over whole rows.
pub(crate) type RowsFn = fn(&mut [f32], &[f32]);
/// `fn(w, g, buf, step)`: a fused SGD update.
pub(crate) type SgdFn = for<'a> fn(Rewrite<'a>, &[f32], Rewrite<'a>, SgdStep);
/// `fn(w, g, [m, v], step)`: a fused Adam update.
pub(crate) type AdamFn = for<'a> fn(Rewrite<'a>, &[f32], [Rewrite<'a>; 2], AdamStep);
/// A fused loss head.
pub(crate) type HeadFn = fn(super::HeadRows<'_>);
/// `fn(out, a, depth, m, ld, accumulate)`: `a·m`, zeros of `a` skipped.
pub(crate) type NonzeroProductFn = fn(&mut [f32], crate::kernels::SparseOperands<'_>, bool);

/// The kernels of one path: plain safe function pointers, each of which
/// may run instructions that only the path's token vouches for.
pub(crate) struct Table {
    pub bias_identity: RowsFn,
    pub bias_sigmoid: RowsFn,
    pub bias_tanh: RowsFn,
    pub bias_relu: RowsFn,
    pub sigmoid_backward: RowsFn,
    pub tanh_backward: RowsFn,
    pub relu_backward: RowsFn,
    pub softmax_rows: RowsFn,
    pub softmax_loss: HeadFn,
    pub logistic_loss: HeadFn,
    pub linear_loss: HeadFn,
    pub poisson_loss: HeadFn,
    pub bias_exp: RowsFn,
    pub col_sums: RowsFn,
    pub sum_squares: fn(&[f32]) -> f64,
    pub sgd_update: SgdFn,
    pub adam_update: AdamFn,
    pub nonzero_product: NonzeroProductFn,
    pub count_nonzeros: fn(&[f32]) -> usize,
}

/// One table entry: the generic kernel `$m::$name::<$V>` compiled inside a
/// function with the target features `$feat` (so that every intrinsic
/// inlines), given the token it needs, behind a safe function pointer.
macro_rules! entry {
    ($V:ty, [$($feat:literal)?], $m:ident::$name:ident ( $($a:ident : $t:ty),* ) -> $r:ty) => {{
        /// # Safety
        /// The CPU runs the features this function is compiled with.
        $(#[target_feature(enable = $feat)])?
        unsafe fn k($($a: $t),*) -> $r {
            // SAFETY: this function's own contract is the token's.
            let t = unsafe { <<$V as $crate::kernels::arch::Lane>::Token as $crate::kernels::arch::Token>::new_unchecked() };
            $crate::kernels::$m::$name::<$V>(t, $($a),*)
        }
        #[allow(unused_unsafe)]
        |$($a: $t),*| {
            // SAFETY: a table holding this entry is handed out only for a
            // token of `$V`, which proves the CPU has `$feat`.
            unsafe { k($($a),*) }
        }
    }};
}
pub(crate) use entry;

/// The whole [`Table`] for lanes `$V`, compiled with the features `$feat`.
macro_rules! table {
    ($V:ty $(, $feat:literal)?) => {
        $crate::kernels::simd::Table {
            bias_identity: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::bias_identity(x: &mut [f32], b: &[f32]) -> ()),
            bias_sigmoid: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::bias_sigmoid(x: &mut [f32], b: &[f32]) -> ()),
            bias_tanh: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::bias_tanh(x: &mut [f32], b: &[f32]) -> ()),
            bias_relu: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::bias_relu(x: &mut [f32], b: &[f32]) -> ()),
            sigmoid_backward: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::sigmoid_backward(d: &mut [f32], h: &[f32]) -> ()),
            tanh_backward: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::tanh_backward(d: &mut [f32], h: &[f32]) -> ()),
            relu_backward: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::relu_backward(d: &mut [f32], h: &[f32]) -> ()),
            softmax_rows: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::softmax_rows(y: &mut [f32], b: &[f32]) -> ()),
            softmax_loss: $crate::kernels::simd::entry!($V, [$($feat)?], generic::softmax_loss(
                h: $crate::kernels::HeadRows<'_>) -> ()),
            logistic_loss: $crate::kernels::simd::entry!($V, [$($feat)?], generic::logistic_loss(
                h: $crate::kernels::HeadRows<'_>) -> ()),
            linear_loss: $crate::kernels::simd::entry!($V, [$($feat)?], generic::linear_loss(
                h: $crate::kernels::HeadRows<'_>) -> ()),
            poisson_loss: $crate::kernels::simd::entry!($V, [$($feat)?], generic::poisson_loss(
                h: $crate::kernels::HeadRows<'_>) -> ()),
            bias_exp: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::bias_exp(x: &mut [f32], b: &[f32]) -> ()),
            col_sums: $crate::kernels::simd::entry!($V, [$($feat)?],
                generic::col_sums(o: &mut [f32], m: &[f32]) -> ()),
            sum_squares: $crate::kernels::simd::entry!($V, [$($feat)?],
                update::sum_squares(x: &[f32]) -> f64),
            sgd_update: $crate::kernels::simd::entry!($V, [$($feat)?],
                update::sgd_update(w: $crate::kernels::Rewrite<'_>, g: &[f32], b: $crate::kernels::Rewrite<'_>,
                    p: $crate::kernels::SgdStep) -> ()),
            adam_update: $crate::kernels::simd::entry!($V, [$($feat)?], update::adam_update(
                w: $crate::kernels::Rewrite<'_>, g: &[f32], mv: [$crate::kernels::Rewrite<'_>; 2],
                p: $crate::kernels::AdamStep) -> ()),
            nonzero_product: $crate::kernels::simd::entry!($V, [$($feat)?], sparse::nonzero_product(
                o: &mut [f32], p: $crate::kernels::SparseOperands<'_>, acc: bool) -> ()),
            count_nonzeros: $crate::kernels::simd::entry!($V, [$($feat)?],
                sparse::count_nonzeros(x: &[f32]) -> usize),
        }
    };
}
pub(crate) use table;

/// `wide::f32x8`, instructions chosen when the crate was compiled.
const WIDE: Table = table!(wide::f32x8);

/// The portable (`wide`) table.
pub(crate) fn wide_kernels(_: Wide) -> &'static Table {
    &WIDE
}

/// The scalar twins.
pub(crate) const SCALAR: Table = Table {
    bias_identity: scalar::bias_identity,
    bias_sigmoid: scalar::bias_sigmoid,
    bias_tanh: scalar::bias_tanh,
    bias_relu: scalar::bias_relu,
    sigmoid_backward: scalar::sigmoid_backward,
    tanh_backward: scalar::tanh_backward,
    relu_backward: scalar::relu_backward,
    softmax_rows: scalar::softmax_rows,
    softmax_loss: scalar::softmax_loss,
    logistic_loss: scalar::logistic_loss,
    linear_loss: scalar::linear_loss,
    poisson_loss: scalar::poisson_loss,
    bias_exp: scalar::bias_exp,
    col_sums: scalar::col_sums,
    sum_squares: scalar::sum_squares,
    sgd_update: scalar::sgd_update,
    adam_update: scalar::adam_update,
    nonzero_product: scalar::nonzero_product,
    count_nonzeros: scalar::count_nonzeros,
};
