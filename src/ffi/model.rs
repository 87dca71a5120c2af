//! Models across the C ABI: create, load, save, describe, predict, free.

use super::handles::bp_model;
use super::handles::ModelState;
use super::{
    bp_activation_int, bp_head_int, bp_status, disjoint, from_error, guard, guard_value, invalid, len, nonnull,
    parse_activation, parse_head, path_arg, status, Floats,
};
use crate::Mlp;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The live model behind `model`, or an error when it is NULL.
///
/// # Safety
/// `model` is NULL or a model from `bp_model_new`/`bp_model_load` not yet
/// freed, not being changed by another thread.
unsafe fn model_ref<'a>(model: *const bp_model) -> Result<&'a bp_model, bp_status> {
    nonnull(model, "model")?;
    // SAFETY: non-null, and live by the caller's contract.
    Ok(unsafe { &*model })
}

/// The columns of a table row the model reads.
fn columns(m: &Mlp) -> usize {
    m.encoding().map_or(m.inputs(), |e| e.columns.len())
}

/// Writes a new boxed model to `*out` (checked non-null by the caller).
fn boxed(out: *mut *mut bp_model, mlp: Mlp) -> bp_status {
    // SAFETY: out is non-null (checked by every caller) and points to
    // writable storage for a pointer (the caller's contract).
    unsafe { *out = Box::into_raw(Box::new(bp_model::new(mlp))) };
    bp_status::BP_OK
}

/// A new model with seeded initial weights. `sizes` holds `n_sizes ≥ 2`
/// layer sizes: inputs, hidden widths, outputs.
///
/// # Safety
/// `sizes` points to `n_sizes` readable `size_t`; `out` to writable storage
/// for one pointer. NULL for either is an error.
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
        nonnull(out, "out")?;
        nonnull(sizes, "sizes")?;
        if n_sizes < 2 {
            return Err(invalid("n_sizes must be at least 2 (inputs and outputs)"));
        }
        let (Some(a), Some(h)) = (parse_activation(activation), parse_head(head)) else {
            return Err(invalid(format!("unknown activation {activation} or head {head}")));
        };
        // SAFETY: non-null, and the caller passes n_sizes values.
        let sizes = unsafe { std::slice::from_raw_parts(sizes, n_sizes) };
        let b = Mlp::builder().input(sizes[0]).hidden_layers(&sizes[1..n_sizes - 1]).activation(a);
        Ok(b.head(h, sizes[n_sizes - 1]).seed(seed).build().map_or_else(from_error, |m| boxed(out, m)))
    })
}

/// Loads a model file (safetensors, as `backprop train` saves it).
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable storage for
/// one pointer. NULL for either is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_load(path: *const c_char, out: *mut *mut bp_model) -> bp_status {
    guard(|| {
        nonnull(out, "out")?;
        let path = path_arg(path)?;
        Ok(Mlp::load(&path).map_or_else(from_error, |m| boxed(out, m)))
    })
}

/// Saves the model to `path` atomically.
///
/// # Safety
/// `model` is a live model; `path` a NUL-terminated string. NULL for either
/// is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_save(model: *const bp_model, path: *const c_char) -> bp_status {
    guard(|| {
        // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
        let model = unsafe { model_ref(model) }?;
        let path = path_arg(path)?;
        Ok(status(model.with_mlp(|m, _| m.save(&path))))
    })
}

/// Inputs of the model (0 for NULL).
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn bp_model_inputs(model: *const bp_model) -> usize {
    // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
    guard_value(0, || unsafe { model_ref(model) }.map_or(0, |m| m.with_mlp(|m, _| m.inputs())))
}

/// Outputs of the model (0 for NULL).
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn bp_model_outputs(model: *const bp_model) -> usize {
    // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
    guard_value(0, || unsafe { model_ref(model) }.map_or(0, |m| m.with_mlp(|m, _| m.outputs())))
}

/// Writes up to `cap` layer sizes into `sizes` (NULL to only count) and
/// returns how many there are (0 for a NULL model).
///
/// # Safety
/// `model` is NULL or a live model; `sizes` is NULL or has room for `cap`
/// `size_t`.
#[no_mangle]
pub unsafe extern "C" fn bp_model_layer_sizes(model: *const bp_model, sizes: *mut usize, cap: usize) -> usize {
    guard_value(0, || {
        // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
        let Ok(m) = (unsafe { model_ref(model) }) else { return 0 };
        let s = m.with_mlp(|m, _| m.sizes().to_vec());
        if !sizes.is_null() {
            // SAFETY: the caller passes room for cap values; the model's own
            // sizes live elsewhere.
            let dst = unsafe { std::slice::from_raw_parts_mut(sizes, cap.min(s.len())) };
            dst.copy_from_slice(&s[..dst.len()]);
        }
        s.len()
    })
}

/// The head's outputs for `rows` rows: `x` is rows × inputs, `y` receives
/// rows × outputs (row-major float). `x` and `y` must not overlap (in-place
/// prediction is `BP_ERR_INVALID_ARGUMENT`).
///
/// # Safety
/// `model` is a live model; `x` points to rows × inputs readable floats and
/// `y` to rows × outputs writable ones. NULL for any is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_predict(
    model: *const bp_model,
    x: *const f32,
    rows: usize,
    y: *mut f32,
) -> bp_status {
    guard(|| {
        // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
        let model = unsafe { model_ref(model) }?;
        nonnull(x, "x")?;
        nonnull(y, "y")?;
        let (inputs, outputs) = model.with_mlp(|m, _| (m.inputs(), m.outputs()));
        let (nx, ny) = (len(rows, inputs, "inputs")?, len(rows, outputs, "outputs")?);
        disjoint(Floats { ptr: x, len: nx }, Floats { ptr: y, len: ny }, "x and y")?;
        // SAFETY: the caller passes rows × inputs and rows × outputs floats,
        // and the two ranges are disjoint (checked above), so the shared and
        // the exclusive slice do not alias.
        let (x, y) = unsafe { (std::slice::from_raw_parts(x, nx), std::slice::from_raw_parts_mut(y, ny)) };
        Ok(status(model.predict(|p| p.predict(x, rows, y))))
    })
}

/// Cells a row of `bp_model_predict_cells` holds: the columns of the table
/// the model was trained from (its categorical columns count once each),
/// or `bp_model_inputs` for a model of plain numeric inputs; 0 for NULL.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn bp_model_columns(model: *const bp_model) -> usize {
    // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
    guard_value(0, || unsafe { model_ref(model) }.map_or(0, |m| m.with_mlp(|m, _| columns(m))))
}

/// The head's outputs for `rows` rows of raw table cells, as `backprop
/// predict` reads a CSV: `cells` holds rows × `bp_model_columns` pointers
/// to NUL-terminated UTF-8 strings, row-major, each read as the model's
/// training read its column (a number; a category, one-hot; a missing cell,
/// such as `""` or `"NA"`, filled as the model says). `y` receives rows ×
/// outputs floats. A cell the model cannot read (text in a numeric column,
/// an unseen category, a missing cell the model has no fill for) is
/// `BP_ERR_INVALID_ARGUMENT`, and `bp_last_error` names its row and column.
///
/// # Safety
/// `model` is a live model; `cells` points to rows × columns readable
/// pointers, each to a NUL-terminated string; `y` to rows × outputs
/// writable floats. NULL for any is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_predict_cells(
    model: *const bp_model,
    cells: *const *const c_char,
    rows: usize,
    y: *mut f32,
) -> bp_status {
    guard(|| {
        // SAFETY: `model` is NULL or a live model (this function's contract), as model_ref requires.
        let model = unsafe { model_ref(model) }?;
        nonnull(cells, "cells")?;
        nonnull(y, "y")?;
        let (columns, outputs) = model.with_mlp(|m, _| (columns(m), m.outputs()));
        let (nc, ny) = (len(rows, columns, "cells")?, len(rows, outputs, "outputs")?);
        // SAFETY: the caller passes rows × columns readable pointers.
        let ptrs = unsafe { std::slice::from_raw_parts(cells, nc) };
        let mut text = Vec::new();
        crate::mem::reserve(&mut text, nc, "cells").map_err(from_error)?;
        for (i, &p) in ptrs.iter().enumerate() {
            nonnull(p, "a cell")?;
            // SAFETY: each pointer is a NUL-terminated string (the caller's contract).
            let s = unsafe { std::ffi::CStr::from_ptr(p) }.to_str().map_err(|_| {
                invalid(format!(
                    "row {}, column {}: the cell is not UTF-8",
                    i / columns.max(1) + 1,
                    i % columns.max(1) + 1
                ))
            })?;
            text.push(s);
        }
        // SAFETY: rows × outputs writable floats (the caller's contract); the
        // cells are strings, never floats, so they cannot overlap y as a
        // float slice is read.
        let y = unsafe { std::slice::from_raw_parts_mut(y, ny) };
        Ok(status(model.predict(|p| p.predict_cells(&text, rows, y))))
    })
}

/// Sets the threads `bp_model_predict` uses for this model (0, the default:
/// every core; 1: the calling thread); at most 1024.
///
/// # Safety
/// `model` is a live model not used by another thread during the call.
/// NULL is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_set_threads(model: *mut bp_model, threads: usize) -> bp_status {
    guard(|| {
        nonnull(model, "model")?;
        if threads > crate::TrainConfig::MAX_THREADS {
            return Err(invalid(format!("threads must be at most {}", crate::TrainConfig::MAX_THREADS)));
        }
        // SAFETY: non-null, live and not shared during the call (the
        // caller's contract).
        let m = unsafe { &mut *model };
        m.threads = threads;
        m.clear_cache();
        Ok(bp_status::BP_OK)
    })
}

/// Sets the precision of `bp_model_predict`'s products for this model
/// (`BP_PRECISION_FP32`, the default, or `BP_PRECISION_BF16`: operands
/// rounded to bf16, sums in f32, the weights kept packed in bf16).
///
/// # Safety
/// `model` is a live model not used by another thread during the call.
/// NULL is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_model_set_precision(model: *mut bp_model, precision: super::bp_precision_int) -> bp_status {
    guard(|| {
        nonnull(model, "model")?;
        let precision = super::parse_precision(precision)?;
        // SAFETY: non-null, live and not shared during the call (the
        // caller's contract).
        let m = unsafe { &mut *model };
        m.precision = precision;
        m.clear_cache();
        Ok(bp_status::BP_OK)
    })
}

/// Frees a model; NULL is a no-op. A model with a live trainer is freed
/// with the trainer instead (and must not be used after this call).
///
/// # Safety
/// `model` is NULL or a model from `bp_model_new`/`bp_model_load` not yet
/// freed.
#[no_mangle]
pub unsafe extern "C" fn bp_model_free(model: *mut bp_model) {
    if model.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a live model, not yet freed (the caller's contract).
        match unsafe { &(*model).state } {
            // SAFETY: the trainer is alive while the model is lent to it.
            ModelState::Lent(t) => unsafe { (*t.cast_mut()).model_freed = true },
            // SAFETY: a live model not lent to a trainer is owned by the caller
            // alone; it is dropped exactly once, here.
            ModelState::Own(_) => drop(unsafe { Box::from_raw(model) }),
        }
    }));
}
