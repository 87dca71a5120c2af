//! Trainers across the C ABI: the config, create, step, free.

use super::handles::{bp_model, bp_trainer, ModelState};
use super::{
    bp_optimizer, bp_optimizer_int, bp_precision_int, bp_status, disjoint, from_error, guard, invalid, len, nonnull,
    parse_precision, Floats,
};
use crate::optim::{Adam, AdamW, Optimizer, Sgd};
use crate::{TrainConfig, Trainer};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

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
    /// Precision of the products' operands (default `BP_PRECISION_FP32`).
    pub precision: bp_precision_int,
}

/// Fills `*config` with the defaults and sets `struct_size`; NULL is a
/// no-op.
///
/// # Safety
/// `config` is NULL or points to writable storage for one `bp_train_config`.
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
        precision: super::bp_precision::BP_PRECISION_FP32 as bp_precision_int,
    };
    // SAFETY: non-null, and the caller passes storage for one config.
    unsafe { config.write(c) };
}

fn optimizer(c: &bp_train_config) -> Result<Box<dyn Optimizer>, bp_status> {
    let (momentum, wd) = (c.momentum as f64, c.weight_decay as f64);
    let opt: Box<dyn Optimizer> = match c.optimizer {
        0 => Box::new(Sgd { momentum, nesterov: false, weight_decay: wd }),
        1 | 2 if momentum != 0.0 => return Err(invalid("momentum applies only to BP_OPTIMIZER_SGD")),
        1 => Box::new(Adam { weight_decay: wd, ..Adam::default() }),
        2 => Box::new(AdamW { weight_decay: wd, ..AdamW::default() }),
        v => return Err(invalid(format!("unknown optimizer {v}"))),
    };
    opt.validate().map_err(from_error)?;
    Ok(opt)
}

/// Reads the caller's config after checking that it was compiled against
/// this header (its `struct_size`).
///
/// # Safety
/// `config` is non-null and points to at least `struct_size` readable bytes.
unsafe fn read_config(config: *const bp_train_config) -> Result<bp_train_config, bp_status> {
    // SAFETY: the caller passes at least the leading u32 (struct_size).
    let size = unsafe { std::ptr::read_unaligned(config.cast::<u32>()) };
    if size as usize != std::mem::size_of::<bp_train_config>() {
        return Err(invalid(format!(
            "config.struct_size is {size}, this library's is {}: rebuild against its header",
            std::mem::size_of::<bp_train_config>()
        )));
    }
    // SAFETY: the size matches, so the whole struct is the caller's.
    Ok(unsafe { config.read_unaligned() })
}

/// A trainer for `model`, which it updates in place. The model must outlive
/// the trainer; until `bp_trainer_free`, the model's functions on other
/// threads wait for a running step (the header's "Threads").
///
/// # Safety
/// `model` is a live model; `config` points to a `bp_train_config` filled by
/// `bp_train_config_default` (at least `struct_size` bytes); `out` to
/// writable storage for one pointer. NULL for any is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_new(
    model: *mut bp_model,
    config: *const bp_train_config,
    out: *mut *mut bp_trainer,
) -> bp_status {
    guard(|| {
        nonnull(model, "model")?;
        nonnull(config, "config")?;
        nonnull(out, "out")?;
        // SAFETY: non-null; the caller's contract.
        let c = unsafe { read_config(config) }?;
        // SAFETY: a live model by contract, not shared while we hold it.
        let m = unsafe { &mut *model };
        let ModelState::Own(mlp) = &m.state else {
            return Err(invalid("the model already has a trainer"));
        };
        if let Some(what) = mlp.scaling().name() {
            // Its steps would see raw rows while its predictions scale them.
            return Err(invalid(format!(
                "the model standardises its {what}; train it with `backprop train --init`, which applies the scaling"
            )));
        }
        let opt = optimizer(&c)?;
        let precision = parse_precision(c.precision)?;
        let tc = TrainConfig {
            batch_size: c.batch_size,
            threads: c.threads,
            lr: c.lr as f64,
            precision,
            ..TrainConfig::default()
        };
        let trainer = Trainer::with_optimizer(mlp.clone(), tc, opt).map_err(from_error)?;
        let t = Box::into_raw(Box::new(bp_trainer { trainer: Mutex::new(trainer), model, model_freed: false }));
        m.state = ModelState::Lent(t);
        m.clear_cache();
        // SAFETY: out is non-null and writable (the caller's contract).
        unsafe { *out = t };
        Ok(bp_status::BP_OK)
    })
}

/// One step on `rows` rows: `x` rows × inputs, `t` rows × outputs (one-hot
/// for softmax); writes the batch's mean loss to `*loss` (if not NULL),
/// which must not lie inside `x` or `t`.
///
/// # Safety
/// `trainer` is a live trainer (other threads may step it or use its
/// model: they take turns); `x` points to
/// rows × inputs and `t` to rows × outputs readable floats; `loss` is NULL or
/// points to one writable float. NULL for the others is an error.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_step(
    trainer: *mut bp_trainer,
    x: *const f32,
    t: *const f32,
    rows: usize,
    loss: *mut f32,
) -> bp_status {
    // SAFETY: the caller's contract is step's, without weights.
    guard(|| unsafe { step(trainer, StepArrays { x, t, w: None, rows, loss }) })
}

/// [`bp_trainer_step`] with a weight for each row: `w` holds `rows`
/// floats, each finite and ≥ 0. The objective is the weighted mean
/// `Σ w·E / Σ w` (scikit-learn's `sample_weight`), written to `*loss`;
/// weights of 1 give `bp_trainer_step`'s bits, and a batch whose weights
/// sum to 0 changes nothing.
///
/// # Safety
/// As for [`bp_trainer_step`], and `w` points to `rows` readable floats.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_step_weighted(
    trainer: *mut bp_trainer,
    x: *const f32,
    t: *const f32,
    w: *const f32,
    rows: usize,
    loss: *mut f32,
) -> bp_status {
    guard(|| {
        nonnull(w, "w")?;
        // SAFETY: the caller's contract is step's, with `rows` weights.
        unsafe { step(trainer, StepArrays { x, t, w: Some(w), rows, loss }) }
    })
}

/// The caller's arrays of one step.
struct StepArrays {
    x: *const f32,
    t: *const f32,
    w: Option<*const f32>,
    rows: usize,
    loss: *mut f32,
}

/// The step of [`bp_trainer_step`] and [`bp_trainer_step_weighted`].
///
/// # Safety
/// `trainer` is a live trainer; `x`, `t` and (when given) `w` point to
/// rows × inputs, rows × outputs and rows readable floats; `loss` is NULL
/// or points to one writable float.
unsafe fn step(trainer: *mut bp_trainer, a: StepArrays) -> Result<bp_status, bp_status> {
    let StepArrays { x, t, w, rows, loss } = a;
    nonnull(trainer, "trainer")?;
    nonnull(x, "x")?;
    nonnull(t, "t")?;
    // SAFETY: a live trainer by contract, only ever shared until freed;
    // the lock makes its steps and its model's uses take turns.
    let mut tr = unsafe { &*trainer }.lock();
    let (nx, nt) = (len(rows, tr.mlp().inputs(), "inputs")?, len(rows, tr.mlp().outputs(), "outputs")?);
    if !loss.is_null() {
        let loss = Floats { ptr: loss, len: 1 };
        disjoint(loss, Floats { ptr: x, len: nx }, "loss and x")?;
        disjoint(loss, Floats { ptr: t, len: nt }, "loss and t")?;
        if let Some(w) = w {
            disjoint(loss, Floats { ptr: w, len: rows }, "loss and w")?;
        }
    }
    let result = {
        // SAFETY: the caller passes rows × inputs, rows × outputs and rows
        // floats; the slices are only read, and end before `loss` (outside
        // them, checked above) is written.
        let (x, t) = unsafe { (std::slice::from_raw_parts(x, nx), std::slice::from_raw_parts(t, nt)) };
        match w {
            // SAFETY: as above, `rows` floats.
            Some(w) => tr.step_weighted(x, t, unsafe { std::slice::from_raw_parts(w, rows) }, rows),
            None => tr.step(x, t, rows),
        }
    };
    let l = result.map_err(from_error)?;
    if !loss.is_null() {
        // SAFETY: non-null, room for one float by contract.
        unsafe { *loss = l };
    }
    Ok(bp_status::BP_OK)
}

/// Frees a trainer, giving its model back the trained weights; NULL is a
/// no-op.
///
/// # Safety
/// `trainer` is NULL or a trainer from `bp_trainer_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn bp_trainer_free(trainer: *mut bp_trainer) {
    if trainer.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a pointer bp_trainer_new returned, freed once (the
        // caller's contract).
        let t = unsafe { Box::from_raw(trainer) };
        if t.model_freed {
            // SAFETY: the caller freed the model while it was lent; it is
            // dropped now, exactly once.
            drop(unsafe { Box::from_raw(t.model) });
            return;
        }
        // SAFETY: the model is alive (not freed, and it must outlive the
        // trainer) and no longer lent.
        let model = unsafe { &mut *t.model };
        let trainer = t.trainer.into_inner().unwrap_or_else(|p| p.into_inner());
        model.state = ModelState::Own(trainer.into_mlp());
        model.clear_cache();
    }));
}
