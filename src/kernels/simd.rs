//! One function table per instruction-set path. The x86 tables hold the
//! generic kernels over AVX2 or AVX-512 registers, compiled inside
//! `#[target_feature]` functions so that every intrinsic inlines; the `wide` table holds
//! them over `wide::f32x8`, whose instructions are fixed when the crate is
//! compiled (SSE2 in a default x86-64 build, NEON on aarch64); the scalar
//! table holds the twins.

use super::update::{self, AdamStep, SgdStep};
#[cfg(target_arch = "x86_64")]
use super::x86::{Avx2, Avx512};
use super::{generic, scalar};

/// `fn(x, bias)` over whole rows.
type RowsFn = fn(&mut [f32], &[f32]);
/// `fn(w, g, m, v, step)`: a fused Adam update.
type AdamFn = fn(&mut [f32], &[f32], &mut [f32], &mut [f32], AdamStep);
/// `fn(s, bias, t, delta, loss, scale)`: a fused loss head.
type HeadFn = fn(&mut [f32], &[f32], &[f32], &mut [f32], &mut [f32], f32);

/// The kernels of one path. Built only by the constants below and handed
/// out only by `kernels::Kernels::for_path`, which checks the CPU first.
pub(crate) struct Table {
    pub bias_identity: RowsFn,
    pub bias_sigmoid: RowsFn,
    pub bias_tanh: RowsFn,
    pub bias_relu: RowsFn,
    pub sigmoid_backward: RowsFn,
    pub tanh_backward: RowsFn,
    pub relu_backward: RowsFn,
    pub softplus: fn(&mut [f32]),
    pub softmax_rows: RowsFn,
    pub softmax_loss: HeadFn,
    pub logistic_loss: HeadFn,
    pub linear_loss: HeadFn,
    pub col_sums: RowsFn,
    pub axpy: fn(&mut [f32], f32, &[f32]),
    pub sum_squares: fn(&[f32]) -> f32,
    pub sgd_update: fn(&mut [f32], &[f32], &mut [f32], SgdStep),
    pub adam_update: AdamFn,
}

/// One table entry: the generic kernel monomorphised for `$V` inside a
/// function compiled with `$feat`, wrapped in a safe function pointer.
macro_rules! entry {
    ($V:ty, [$($feat:literal)?], $name:ident ( $($a:ident : $t:ty),* )) => {
        entry!($V, [$($feat)?], generic::$name ( $($a : $t),* ) -> ())
    };
    ($V:ty, [$($feat:literal)?], $m:ident::$name:ident ( $($a:ident : $t:ty),* ) -> $r:ty) => {{
        #[allow(clippy::missing_safety_doc)]
        $(#[target_feature(enable = $feat)])?
        unsafe fn k($($a: $t),*) -> $r {
            $m::$name::<$V>($($a),*)
        }
        #[allow(unused_unsafe)]
        |$($a: $t),*| {
            // SAFETY: this table is only returned by `Kernels::for_path`
            // after it has checked that the CPU has every feature in `$feat`.
            unsafe { k($($a),*) }
        }
    }};
}

macro_rules! table {
    ($V:ty, [$($feat:literal)?]) => {
        Table {
            bias_identity: entry!($V, [$($feat)?], bias_identity(x: &mut [f32], b: &[f32])),
            bias_sigmoid: entry!($V, [$($feat)?], bias_sigmoid(x: &mut [f32], b: &[f32])),
            bias_tanh: entry!($V, [$($feat)?], bias_tanh(x: &mut [f32], b: &[f32])),
            bias_relu: entry!($V, [$($feat)?], bias_relu(x: &mut [f32], b: &[f32])),
            sigmoid_backward: entry!($V, [$($feat)?], sigmoid_backward(d: &mut [f32], h: &[f32])),
            tanh_backward: entry!($V, [$($feat)?], tanh_backward(d: &mut [f32], h: &[f32])),
            relu_backward: entry!($V, [$($feat)?], relu_backward(d: &mut [f32], h: &[f32])),
            softplus: entry!($V, [$($feat)?], softplus(x: &mut [f32])),
            softmax_rows: entry!($V, [$($feat)?], softmax_rows(y: &mut [f32], b: &[f32])),
            softmax_loss: entry!($V, [$($feat)?], softmax_loss(
                s: &mut [f32], b: &[f32], t: &[f32], d: &mut [f32], l: &mut [f32], k: f32)),
            logistic_loss: entry!($V, [$($feat)?], logistic_loss(
                s: &mut [f32], b: &[f32], t: &[f32], d: &mut [f32], l: &mut [f32], k: f32)),
            linear_loss: entry!($V, [$($feat)?], linear_loss(
                s: &mut [f32], b: &[f32], t: &[f32], d: &mut [f32], l: &mut [f32], k: f32)),
            col_sums: entry!($V, [$($feat)?], col_sums(o: &mut [f32], m: &[f32])),
            axpy: entry!($V, [$($feat)?], axpy(y: &mut [f32], a: f32, x: &[f32])),
            sum_squares: entry!($V, [$($feat)?], update::sum_squares(x: &[f32]) -> f32),
            sgd_update: entry!($V, [$($feat)?], update::sgd_update(w: &mut [f32], g: &[f32], b: &mut [f32], p: SgdStep) -> ()),
            adam_update: entry!($V, [$($feat)?], update::adam_update(
                w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], p: AdamStep) -> ()),
        }
    };
}

/// AVX-512 (Skylake-X and later, Zen 4): 16 lanes.
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX512: Table = table!(Avx512, ["avx512f,avx512vl,avx512dq,avx2,fma"]);

/// AVX2 with FMA (Haswell and later, Zen): 8 lanes.
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX2: Table = table!(Avx2, ["avx2,fma"]);

/// `wide::f32x8`, instructions chosen when the crate was compiled.
pub(crate) const WIDE: Table = table!(wide::f32x8, []);

/// The scalar twins.
pub(crate) const SCALAR: Table = Table {
    bias_identity: scalar::bias_identity,
    bias_sigmoid: scalar::bias_sigmoid,
    bias_tanh: scalar::bias_tanh,
    bias_relu: scalar::bias_relu,
    sigmoid_backward: scalar::sigmoid_backward,
    tanh_backward: scalar::tanh_backward,
    relu_backward: scalar::relu_backward,
    softplus: scalar::softplus,
    softmax_rows: scalar::softmax_rows,
    softmax_loss: scalar::softmax_loss,
    logistic_loss: scalar::logistic_loss,
    linear_loss: scalar::linear_loss,
    col_sums: scalar::col_sums,
    axpy: scalar::axpy,
    sum_squares: scalar::sum_squares,
    sgd_update: scalar::sgd_update,
    adam_update: scalar::adam_update,
};
