//! The C ABI (`include/backprop.h`): opaque model and trainer handles,
//! status codes, and a thread-local message for the last failure.
//!
//! Every function catches panics (reported as `BP_ERR_INTERNAL`), checks
//! every pointer, size and enum value it is given, and returns an error code
//! rather than misbehave. Enum values arrive as plain integers and are
//! validated before use, since C may pass any value.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

use crate::error::{Error, ErrorKind};
use crate::optim::{Adam, AdamW, Optimizer, Sgd};
use crate::{Activation, Head, Mlp, TrainConfig, Trainer};
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
    /// a config from another header version, or a setting out of range.
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

/// Hidden-unit activation.
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

/// Output head.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bp_head {
    /// Softmax with cross-entropy (one-hot targets).
    BP_HEAD_SOFTMAX = 0,
    /// Independent sigmoids with binary cross-entropy (targets in [0, 1]).
    BP_HEAD_LOGISTIC = 1,
    /// Identity with half squared error.
    BP_HEAD_LINEAR = 2,
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

/// A `bp_activation` as it crosses the boundary: any `int`, checked before use.
pub type bp_activation_int = i32;
/// A `bp_head` as it crosses the boundary: any `int`, checked before use.
pub type bp_head_int = i32;
/// A `bp_optimizer` as it crosses the boundary: any `int`, checked before use.
pub type bp_optimizer_int = i32;

/// Training settings. Fill with `bp_train_config_default`, then change
/// fields; `struct_size` tells the library which header the caller was
/// compiled with.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bp_train_config {
    /// `sizeof(bp_train_config)`, set by `bp_train_config_default`.
    pub struct_size: u32,
    /// Most rows a step accepts (default 64).
    pub batch_size: usize,
    /// Threads of the trainer's own pool; 0 = every core (default 0).
    pub threads: usize,
    /// Learning rate (default 1.0, meant for SGD; Adam usually wants 1e-3).
    pub lr: f32,
    /// Update rule (default `BP_OPTIMIZER_SGD`).
    pub optimizer: bp_optimizer_int,
    /// SGD momentum in [0, 1) (default 0; other optimizers need 0).
    pub momentum: f32,
    /// Weight decay ≥ 0 (default 0; for AdamW PyTorch's default is 0.01).
    pub weight_decay: f32,
    /// Reserved for the trainer's random choices; steps take the caller's
    /// batches as given, so it does not change results today (default 0).
    pub seed: u64,
}

/// A network: layer sizes, activation, head and weights (opaque).
pub struct bp_model {
    state: ModelState,
}

enum ModelState {
    Own(Mlp),
    /// Lent to the trainer, which holds the network until it is freed.
    Lent(*const bp_trainer),
}

/// A trainer bound to a model (opaque).
pub struct bp_trainer {
    trainer: Trainer,
    model: *mut bp_model,
    /// The caller freed the model first: free it with the trainer.
    model_freed: bool,
}

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

/// Runs `f`, turning a panic into `BP_ERR_INTERNAL`.
fn guard(f: impl FnOnce() -> bp_status) -> bp_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
        fail(bp_status::BP_ERR_INTERNAL, format!("internal error: {}", what.unwrap_or_else(|| "panic".into())))
    })
}

/// Runs `f` returning a plain value, `default` on a panic.
fn guard_value<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

macro_rules! nonnull {
    ($p:expr, $what:literal) => {
        if $p.is_null() {
            return fail(bp_status::BP_ERR_INVALID_ARGUMENT, concat!($what, " is NULL"));
        }
    };
}

fn path_arg(path: *const c_char) -> Result<PathBuf, bp_status> {
    if path.is_null() {
        return Err(fail(bp_status::BP_ERR_INVALID_ARGUMENT, "path is NULL"));
    }
    // SAFETY: the caller passes a NUL-terminated string (documented).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(PathBuf::from)
            .map_err(|_| fail(bp_status::BP_ERR_INVALID_ARGUMENT, "path is not UTF-8"))
    }
}

fn parse_activation(v: bp_activation_int) -> Option<Activation> {
    [Activation::Sigmoid, Activation::Tanh, Activation::Relu].get(usize::try_from(v).ok()?).copied()
}

fn parse_head(v: bp_head_int) -> Option<Head> {
    [Head::Softmax, Head::Logistic, Head::Linear].get(usize::try_from(v).ok()?).copied()
}

impl bp_model {
    fn mlp(&self) -> &Mlp {
        match &self.state {
            ModelState::Own(m) => m,
            // SAFETY: a lent model's trainer is alive until bp_trainer_free
            // gives the network back (documented contract of the header).
            ModelState::Lent(t) => unsafe { (**t).trainer.mlp() },
        }
    }
}

/// Writes `value` to `*out` (checked non-null by the caller).
fn boxed<T>(out: *mut *mut T, value: T) -> bp_status {
    // SAFETY: out is non-null and points to writable storage for a pointer.
    unsafe { *out = Box::into_raw(Box::new(value)) };
    bp_status::BP_OK
}

/// The library's version, a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn bp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The instruction-set path the kernels use ("avx512", "avx2", "wide" or
/// "scalar"), a static string.
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
#[no_mangle]
pub extern "C" fn bp_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Fills `*config` with the defaults and sets `struct_size`; NULL is a
/// no-op.
#[no_mangle]
pub unsafe extern "C" fn bp_train_config_default(config: *mut bp_train_config) {
    if config.is_null() {
        return;
    }
    let d = TrainConfig::default();
    let c = bp_train_config {
        struct_size: std::mem::size_of::<bp_train_config>() as u32,
        batch_size: d.batch_size,
        threads: d.threads,
        lr: d.lr as f32,
        optimizer: bp_optimizer::BP_OPTIMIZER_SGD as bp_optimizer_int,
        momentum: 0.0,
        weight_decay: 0.0,
        seed: 0,
    };
    // SAFETY: non-null, and the caller passes storage for one config.
    unsafe { config.write(c) };
}

/// A new model with seeded initial weights. `sizes` holds `n_sizes ≥ 2`
/// layer sizes: inputs, hidden widths, outputs.
#[no_mangle]
pub unsafe extern "C" fn bp_model_new(
    sizes: *const usize,
    n_sizes: usize,
    activation: bp_activation_int,
    head: bp_head_int,
    seed: u64,
    out: *mut *mut bp_model,
) -> bp_status {
    guard(|| {
        nonnull!(out, "out");
        nonnull!(sizes, "sizes");
        if n_sizes < 2 {
            return fail(bp_status::BP_ERR_INVALID_ARGUMENT, "n_sizes must be at least 2 (inputs and outputs)");
        }
        let (Some(a), Some(h)) = (parse_activation(activation), parse_head(head)) else {
            return fail(bp_status::BP_ERR_INVALID_ARGUMENT, format!("unknown activation {activation} or head {head}"));
        };
        // SAFETY: non-null, and the caller passes n_sizes values.
        let sizes = unsafe { std::slice::from_raw_parts(sizes, n_sizes) };
        let b = Mlp::builder().input(sizes[0]).hidden_layers(&sizes[1..n_sizes - 1]).activation(a);
        match b.head(h, sizes[n_sizes - 1]).seed(seed).build() {
            Ok(m) => boxed(out, bp_model { state: ModelState::Own(m) }),
            Err(e) => from_error(e),
        }
    })
}

/// Loads a model file (safetensors, as `backprop train` saves it).
#[no_mangle]
pub unsafe extern "C" fn bp_model_load(path: *const c_char, out: *mut *mut bp_model) -> bp_status {
    guard(|| {
        nonnull!(out, "out");
        let path = match path_arg(path) {
            Ok(p) => p,
            Err(s) => return s,
        };
        match Mlp::load(&path) {
            Ok(m) => boxed(out, bp_model { state: ModelState::Own(m) }),
            Err(e) => from_error(e),
        }
    })
}

/// Saves the model to `path` atomically.
#[no_mangle]
pub unsafe extern "C" fn bp_model_save(model: *const bp_model, path: *const c_char) -> bp_status {
    guard(|| {
        nonnull!(model, "model");
        let path = match path_arg(path) {
            Ok(p) => p,
            Err(s) => return s,
        };
        // SAFETY: non-null, and a live model by the caller's contract.
        let model = unsafe { &*model };
        model.mlp().save(&path).map_or_else(from_error, |()| bp_status::BP_OK)
    })
}

/// Inputs of the model (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bp_model_inputs(model: *const bp_model) -> usize {
    // SAFETY: checked for NULL; otherwise a live model by contract.
    guard_value(0, || if model.is_null() { 0 } else { unsafe { &*model }.mlp().inputs() })
}

/// Outputs of the model (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bp_model_outputs(model: *const bp_model) -> usize {
    // SAFETY: checked for NULL; otherwise a live model by contract.
    guard_value(0, || if model.is_null() { 0 } else { unsafe { &*model }.mlp().outputs() })
}

/// Writes up to `cap` layer sizes into `sizes` (NULL to only count) and
/// returns how many there are (0 for a NULL model).
#[no_mangle]
pub unsafe extern "C" fn bp_model_layer_sizes(model: *const bp_model, sizes: *mut usize, cap: usize) -> usize {
    guard_value(0, || {
        if model.is_null() {
            return 0;
        }
        // SAFETY: a live model by contract.
        let s = unsafe { &*model }.mlp().sizes();
        if !sizes.is_null() {
            // SAFETY: the caller passes room for cap values.
            let dst = unsafe { std::slice::from_raw_parts_mut(sizes, cap.min(s.len())) };
            dst.copy_from_slice(&s[..dst.len()]);
        }
        s.len()
    })
}

/// `rows × width` as a length, or an error on overflow or zero.
fn len(rows: usize, width: usize, what: &str) -> Result<usize, bp_status> {
    match rows.checked_mul(width) {
        Some(n) if rows > 0 => Ok(n),
        Some(_) => Err(fail(bp_status::BP_ERR_INVALID_ARGUMENT, "rows must be at least 1")),
        None => Err(fail(bp_status::BP_ERR_INVALID_ARGUMENT, format!("rows × {what} overflows"))),
    }
}

/// The head's outputs for `rows` rows: `x` is rows × inputs, `y` receives
/// rows × outputs (row-major f32).
#[no_mangle]
pub unsafe extern "C" fn bp_model_predict(
    model: *const bp_model,
    x: *const f32,
    rows: usize,
    y: *mut f32,
) -> bp_status {
    guard(|| {
        nonnull!(model, "model");
        nonnull!(x, "x");
        nonnull!(y, "y");
        // SAFETY: a live model by contract.
        let mlp = unsafe { &*model }.mlp();
        let (nx, ny) = match (len(rows, mlp.inputs(), "inputs"), len(rows, mlp.outputs(), "outputs")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        // SAFETY: the caller passes rows × inputs and rows × outputs floats.
        let (x, y) = unsafe { (std::slice::from_raw_parts(x, nx), std::slice::from_raw_parts_mut(y, ny)) };
        mlp.predict(x, rows, y).map_or_else(from_error, |()| bp_status::BP_OK)
    })
}

/// Frees a model; NULL is a no-op. A model with a live trainer is freed
/// with the trainer instead (and must not be used after this call).
#[no_mangle]
pub unsafe extern "C" fn bp_model_free(model: *mut bp_model) {
    if model.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a pointer bp_model_new/bp_model_load returned, not yet freed.
        match unsafe { &(*model).state } {
            // SAFETY: the trainer is alive while the model is lent to it.
            ModelState::Lent(t) => unsafe { (*t.cast_mut()).model_freed = true },
            // SAFETY: as above; the model is dropped exactly once, here.
            ModelState::Own(_) => drop(unsafe { Box::from_raw(model) }),
        }
    }));
}

fn optimizer(c: &bp_train_config) -> Result<Box<dyn Optimizer>, bp_status> {
    let bad = |msg: String| fail(bp_status::BP_ERR_INVALID_ARGUMENT, msg);
    let (momentum, wd) = (c.momentum as f64, c.weight_decay as f64);
    let opt: Box<dyn Optimizer> = match c.optimizer {
        0 => Box::new(Sgd { momentum, nesterov: false, weight_decay: wd }),
        1 | 2 if momentum != 0.0 => return Err(bad("momentum applies only to BP_OPTIMIZER_SGD".into())),
        1 => Box::new(Adam { weight_decay: wd, ..Adam::default() }),
        2 => Box::new(AdamW { weight_decay: wd, ..AdamW::default() }),
        v => return Err(bad(format!("unknown optimizer {v}"))),
    };
    opt.validate().map_err(from_error)?;
    Ok(opt)
}

/// A trainer for `model`, which it updates in place. The model must outlive
/// the trainer; until `bp_trainer_free` it must not be used from another
/// thread while a step runs.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_new(
    model: *mut bp_model,
    config: *const bp_train_config,
    out: *mut *mut bp_trainer,
) -> bp_status {
    guard(|| {
        nonnull!(model, "model");
        nonnull!(config, "config");
        nonnull!(out, "out");
        // SAFETY: non-null; the caller passes a config of at least struct_size
        // bytes, and struct_size is read first to check it is ours.
        let size = unsafe { std::ptr::read_unaligned(config.cast::<u32>()) };
        if size as usize != std::mem::size_of::<bp_train_config>() {
            let msg = format!(
                "config.struct_size is {size}, this library's is {}: rebuild against its header",
                std::mem::size_of::<bp_train_config>()
            );
            return fail(bp_status::BP_ERR_INVALID_ARGUMENT, msg);
        }
        // SAFETY: the size matches, so the whole struct is the caller's.
        let c = unsafe { *config };
        // SAFETY: a live model by contract, not shared while we hold it.
        let m = unsafe { &mut *model };
        let ModelState::Own(mlp) = &m.state else {
            return fail(bp_status::BP_ERR_INVALID_ARGUMENT, "the model already has a trainer");
        };
        let opt = match optimizer(&c) {
            Ok(o) => o,
            Err(s) => return s,
        };
        let tc =
            TrainConfig { batch_size: c.batch_size, threads: c.threads, lr: c.lr as f64, ..TrainConfig::default() };
        match Trainer::with_optimizer(mlp.clone(), tc, opt) {
            Ok(trainer) => {
                let t = Box::into_raw(Box::new(bp_trainer { trainer, model, model_freed: false }));
                m.state = ModelState::Lent(t);
                // SAFETY: out is non-null.
                unsafe { *out = t };
                bp_status::BP_OK
            }
            Err(e) => from_error(e),
        }
    })
}

/// One step on `rows` rows: `x` rows × inputs, `t` rows × outputs (one-hot
/// for softmax); writes the batch's mean loss to `*loss` (if not NULL).
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_step(
    trainer: *mut bp_trainer,
    x: *const f32,
    t: *const f32,
    rows: usize,
    loss: *mut f32,
) -> bp_status {
    guard(|| {
        nonnull!(trainer, "trainer");
        nonnull!(x, "x");
        nonnull!(t, "t");
        // SAFETY: a live trainer by contract, used by one thread at a time.
        let tr = unsafe { &mut (*trainer).trainer };
        let (nx, nt) = match (len(rows, tr.mlp().inputs(), "inputs"), len(rows, tr.mlp().outputs(), "outputs")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        // SAFETY: the caller passes rows × inputs and rows × outputs floats.
        let (x, t) = unsafe { (std::slice::from_raw_parts(x, nx), std::slice::from_raw_parts(t, nt)) };
        match tr.step(x, t, rows) {
            Ok(l) => {
                if !loss.is_null() {
                    // SAFETY: non-null, room for one float.
                    unsafe { *loss = l };
                }
                bp_status::BP_OK
            }
            Err(e) => from_error(e),
        }
    })
}

/// Frees a trainer, giving its model back the trained weights; NULL is a
/// no-op.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_free(trainer: *mut bp_trainer) {
    if trainer.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a pointer bp_trainer_new returned, freed once; its model is
        // alive (it must outlive the trainer).
        let t = unsafe { Box::from_raw(trainer) };
        if t.model_freed {
            // SAFETY: the caller freed the model while it was lent; it is
            // dropped now, exactly once.
            drop(unsafe { Box::from_raw(t.model) });
            return;
        }
        // SAFETY: the model is alive (not freed) and no longer lent.
        let model = unsafe { &mut *t.model };
        model.state = ModelState::Own(t.trainer.into_mlp());
    }));
}
