//! The C ABI (`include/backprop.h`), behind the `capi` feature: opaque model
//! and trainer handles, status codes, and a thread-local message for the
//! last failure.
//!
//! Every function catches panics (reported as `BP_ERR_INTERNAL`), checks
//! every pointer, size and enum value it is given, and returns an error code
//! rather than misbehave. Enum values arrive as plain integers and are
//! validated before use, since C may pass any value; they index the
//! library's own lists ([`Activation::ALL`], [`Head::ALL`]), in the order the
//! header gives them.
#![allow(non_camel_case_types)]

mod handles;
mod model;
mod trainer;

pub use handles::{bp_model, bp_trainer};
pub use model::*;
pub use trainer::*;

use crate::error::{Error, ErrorKind};
use crate::{Activation, Head};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Status of a call: `BP_OK` or what went wrong (the message is in
/// `bp_last_error`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_status {
    /// Success.
    BP_OK = 0,
    /// A null pointer, a zero or overflowing size, an unknown enum value,
    /// a config from another header version, a setting out of range, or
    /// input and output arrays that overlap.
    BP_ERR_INVALID_ARGUMENT = 1,
    /// Buffer sizes that do not match the model.
    BP_ERR_SHAPE = 2,
    /// A file could not be read or written.
    BP_ERR_IO = 3,
    /// A file is not a valid model file.
    BP_ERR_FORMAT = 4,
    /// A non-finite value (the loss diverged, or bad data).
    BP_ERR_NUMERIC = 5,
    /// A bug in backprop (a caught panic).
    BP_ERR_INTERNAL = 6,
}

/// Hidden-unit activation (the order of `Activation::ALL`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_activation {
    /// Logistic sigmoid.
    BP_ACTIVATION_SIGMOID = 0,
    /// Hyperbolic tangent.
    BP_ACTIVATION_TANH = 1,
    /// Rectified linear.
    BP_ACTIVATION_RELU = 2,
}

/// Output head (the order of `Head::ALL`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_head {
    /// Softmax with cross-entropy (one-hot targets).
    BP_HEAD_SOFTMAX = 0,
    /// Independent sigmoids with binary cross-entropy (targets in [0, 1]).
    BP_HEAD_LOGISTIC = 1,
    /// Identity with half squared error.
    BP_HEAD_LINEAR = 2,
    /// Exponential (a rate) with the Poisson negative log-likelihood
    /// (targets ≥ 0).
    BP_HEAD_POISSON = 3,
}

/// Update rule: PyTorch's `SGD`, `Adam`, `AdamW`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_optimizer {
    /// SGD, with optional momentum and weight decay.
    BP_OPTIMIZER_SGD = 0,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8; weight decay added to the gradient).
    BP_OPTIMIZER_ADAM = 1,
    /// AdamW (as Adam, weight decay decoupled).
    BP_OPTIMIZER_ADAMW = 2,
}

/// Precision of the products' operands (`TrainConfig::precision`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_precision {
    /// f32 operands (the default).
    BP_PRECISION_FP32 = 0,
    /// Operands rounded to bf16, sums in f32 (VDPBF16PS where the CPU has
    /// AVX512-BF16, emulated at f32 speed elsewhere).
    BP_PRECISION_BF16 = 1,
}

/// A `bp_activation` as it crosses the boundary: any `int`, checked before use.
pub type bp_activation_int = i32;
/// A `bp_head` as it crosses the boundary: any `int`, checked before use.
pub type bp_head_int = i32;
/// A `bp_optimizer` as it crosses the boundary: any `int`, checked before use.
pub type bp_optimizer_int = i32;
/// A `bp_precision` as it crosses the boundary: any `int`, checked before use.
pub type bp_precision_int = i32;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: impl Into<String>) {
    let msg = msg.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(msg).unwrap_or_default());
}

fn fail(status: bp_status, msg: impl Into<String>) -> bp_status {
    set_error(msg);
    status
}

fn invalid(msg: impl Into<String>) -> bp_status {
    fail(bp_status::BP_ERR_INVALID_ARGUMENT, msg)
}

fn from_error(e: Error) -> bp_status {
    let status = match e.kind() {
        ErrorKind::ShapeMismatch { .. } => bp_status::BP_ERR_SHAPE,
        ErrorKind::Io { .. } => bp_status::BP_ERR_IO,
        ErrorKind::Format { .. } => bp_status::BP_ERR_FORMAT,
        ErrorKind::NonFinite { .. } => bp_status::BP_ERR_NUMERIC,
        _ => bp_status::BP_ERR_INVALID_ARGUMENT,
    };
    fail(status, e.to_string())
}

/// `BP_OK`, or the status and message of the error.
fn status(r: crate::Result<()>) -> bp_status {
    r.map_or_else(from_error, |()| bp_status::BP_OK)
}

/// Runs `f`, turning a panic into `BP_ERR_INTERNAL`.
fn guard(f: impl FnOnce() -> Result<bp_status, bp_status>) -> bp_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(s) | Err(s)) => s,
        Err(p) => {
            let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
            fail(bp_status::BP_ERR_INTERNAL, format!("internal error: {}", what.unwrap_or_else(|| "panic".into())))
        }
    }
}

/// Runs `f` returning a plain value, `default` on a panic.
fn guard_value<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// `Err(BP_ERR_INVALID_ARGUMENT)` naming `what` when `p` is NULL.
fn nonnull<T>(p: *const T, what: &str) -> Result<(), bp_status> {
    if p.is_null() {
        return Err(invalid(format!("{what} is NULL")));
    }
    Ok(())
}

/// `rows × width` as a length, or an error on overflow or zero rows.
fn len(rows: usize, width: usize, what: &str) -> Result<usize, bp_status> {
    match rows.checked_mul(width) {
        Some(n) if rows > 0 => Ok(n),
        Some(_) => Err(invalid("rows must be at least 1")),
        None => Err(invalid(format!("rows × {what} overflows"))),
    }
}

/// `len` floats a caller passed from `ptr`.
#[derive(Clone, Copy)]
struct Floats {
    ptr: *const f32,
    len: usize,
}

/// An error when arrays `a` and `b` share memory (an array the call writes
/// may not overlap one it reads).
fn disjoint(a: Floats, b: Floats, what: &str) -> Result<(), bp_status> {
    let (a0, b0) = (a.ptr as usize, b.ptr as usize);
    let (a1, b1) = (a0.saturating_add(a.len.saturating_mul(4)), b0.saturating_add(b.len.saturating_mul(4)));
    if a0 < b1 && b0 < a1 {
        return Err(invalid(format!("{what} overlap; pass separate arrays")));
    }
    Ok(())
}

fn path_arg(path: *const c_char) -> Result<PathBuf, bp_status> {
    nonnull(path, "path")?;
    // SAFETY: non-null, and the caller passes a NUL-terminated string (the
    // documented contract of every function taking a path).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).map(PathBuf::from).map_err(|_| invalid("path is not UTF-8"))
    }
}

/// The activation a C value names: an index into [`Activation::ALL`].
fn parse_activation(v: bp_activation_int) -> Option<Activation> {
    Activation::ALL.get(usize::try_from(v).ok()?).copied()
}

/// The head a C value names: an index into [`Head::ALL`].
fn parse_head(v: bp_head_int) -> Option<Head> {
    Head::ALL.get(usize::try_from(v).ok()?).copied()
}

/// The precision a `bp_precision_int` names, or an invalid-argument error.
fn parse_precision(v: bp_precision_int) -> Result<crate::Precision, bp_status> {
    let p = usize::try_from(v).ok().and_then(|i| crate::Precision::ALL.get(i).copied());
    p.ok_or_else(|| invalid(format!("unknown precision {v} (BP_PRECISION_FP32 or BP_PRECISION_BF16)")))
}

/// The library's version, a static NUL-terminated string.
///
/// # Safety
/// None: it takes no arguments and the string is never freed.
#[no_mangle]
pub extern "C" fn bp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The instruction-set path the kernels use ("avx512", "avx2", "wide" or
/// "scalar"), a static string.
///
/// # Safety
/// None: it takes no arguments and the string is never freed.
#[no_mangle]
pub extern "C" fn bp_simd_path() -> *const c_char {
    match crate::simd_path() {
        crate::SimdPath::Avx512 => c"avx512".as_ptr(),
        crate::SimdPath::Avx2 => c"avx2".as_ptr(),
        crate::SimdPath::Wide => c"wide".as_ptr(),
        crate::SimdPath::Scalar => c"scalar".as_ptr(),
    }
}

/// The message of this thread's last failure, "" if none; valid until this
/// thread's next failing call.
///
/// # Safety
/// None: it takes no arguments; the caller must not free the string or use
/// it after this thread's next failing call.
#[no_mangle]
pub extern "C" fn bp_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C values of the enums are positions in the library's lists.
    #[test]
    fn c_enum_values_index_the_library_lists() {
        use bp_activation::*;
        use bp_head::*;
        for (c, a) in [(BP_ACTIVATION_SIGMOID, Activation::Sigmoid), (BP_ACTIVATION_TANH, Activation::Tanh)]
            .into_iter()
            .chain([(BP_ACTIVATION_RELU, Activation::Relu)])
        {
            assert_eq!(parse_activation(c as i32), Some(a));
        }
        for (c, h) in
            [(BP_HEAD_SOFTMAX, Head::Softmax), (BP_HEAD_LOGISTIC, Head::Logistic), (BP_HEAD_LINEAR, Head::Linear)]
                .into_iter()
                .chain([(BP_HEAD_POISSON, Head::Poisson)])
        {
            assert_eq!(parse_head(c as i32), Some(h));
        }
        assert_eq!((parse_activation(3), parse_activation(-1), parse_head(4)), (None, None, None));
        assert_eq!((Activation::ALL.len(), Head::ALL.len()), (3, 4), "a new variant needs a C value");
    }

    #[test]
    fn overlapping_ranges_are_found() {
        let v = [0f32; 8];
        let p = v.as_ptr();
        // SAFETY: offsets within the array.
        let (p2, p4) = unsafe { (p.add(2), p.add(4)) };
        let f = |ptr, len| Floats { ptr, len };
        assert!(disjoint(f(p, 4), f(p4, 4), "x").is_ok());
        assert!(disjoint(f(p, 4), f(p2, 4), "x").is_err());
        assert!(disjoint(f(p2, 2), f(p, 8), "x").is_err());
        assert!(disjoint(f(p, 0), f(p, 4), "x").is_ok(), "an empty range overlaps nothing");
    }
}
