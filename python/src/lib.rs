//! `backprop._native`: the engine under the Python estimators.
//!
//! Two classes, each holding its Rust state behind a mutex (so no Python
//! object crosses a thread, and two Python threads never share a trainer
//! at once):
//! - [`Network`]: a model (layer sizes, activation, head, parameters) with a
//!   cached [`Predictor`]; its bytes are the CLI's safetensors model file.
//! - [`Fit`]: a [`Trainer`] over a network, run an epoch at a time exactly
//!   as `backprop train` runs its epochs (the same row order from the same
//!   seed, the same batches), so the weights are the CLI's, bit for bit.
//!
//! Training and prediction release the GIL. Inputs must be C-contiguous
//! float32 (the Python side converts anything else once); they are read in
//! place, never copied. Engine errors become `ValueError`; a panic, should
//! one ever happen, becomes PyO3's `PanicException`, never an abort.

use backprop::data::{epoch_rng, validation_split as split_rows};
use backprop::optim::{Adam, AdamW, Optimizer, Schedule, ScheduleKind, Sgd};
use backprop::rng::Rng;
use backprop::{Activation, Head, Mlp, Precision, Predictor, TrainConfig, Trainer};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An engine error as the `ValueError` scikit-learn raises for bad input.
fn value_error(e: backprop::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> PyResult<MutexGuard<'_, T>> {
    m.lock().map_err(|_| PyRuntimeError::new_err("an earlier call panicked while it held this object"))
}

/// `f` on the state behind `m`, waited for and run without the GIL: a call
/// on an object another thread is training or predicting with waits for it
/// without stopping the interpreter.
fn with<T: Send, R: Send>(py: Python<'_>, m: &Mutex<T>, f: impl FnOnce(&mut T) -> PyResult<R> + Send) -> PyResult<R> {
    py.detach(|| f(&mut *lock(m)?))
}

/// How often an epoch looks for a pending signal (Ctrl-C), between steps.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The values of a C-contiguous array, with its rows and columns.
fn matrix<'a>(a: &'a PyReadonlyArray2<'_, f32>, what: &str) -> PyResult<(&'a [f32], usize, usize)> {
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    let values = a.as_slice().map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous float32")))?;
    Ok((values, rows, cols))
}

/// A model and its cached predictor.
struct NetState {
    mlp: Mlp,
    /// The predictor, its thread count and precision, made at the first
    /// prediction.
    predictor: Option<(Predictor, usize, Precision)>,
}

/// A multilayer perceptron: `Network(sizes, activation, head, seed)`.
#[pyclass(module = "backprop._native", frozen)]
struct Network {
    inner: Mutex<NetState>,
}

impl Network {
    fn from_mlp(mlp: Mlp) -> Network {
        Network { inner: Mutex::new(NetState { mlp, predictor: None }) }
    }
}

#[pymethods]
impl Network {
    /// A freshly initialised network: `sizes` from inputs to outputs,
    /// `activation` ("sigmoid", "tanh", "relu") for the hidden layers,
    /// `head` ("softmax", "logistic", "linear"), weights from `seed`.
    #[new]
    fn new(sizes: Vec<usize>, activation: &str, head: &str, seed: u64) -> PyResult<Network> {
        let act = Activation::from_name(activation)
            .ok_or_else(|| PyValueError::new_err(format!("unknown activation {activation:?}")))?;
        let h = Head::from_name(head).ok_or_else(|| PyValueError::new_err(format!("unknown head {head:?}")))?;
        let [inputs, hidden @ .., outputs] = sizes.as_slice() else {
            return Err(PyValueError::new_err("sizes needs at least the inputs and the outputs"));
        };
        let mlp = Mlp::builder()
            .input(*inputs)
            .hidden_layers(hidden)
            .activation(act)
            .head(h, *outputs)
            .seed(seed)
            .build()
            .map_err(value_error)?;
        Ok(Network::from_mlp(mlp))
    }

    /// The network in a model file's bytes, and the file's metadata.
    #[staticmethod]
    fn from_bytes(data: &[u8], source: PathBuf) -> PyResult<(Network, BTreeMap<String, String>)> {
        let mlp = Mlp::from_safetensors(data, &source).map_err(value_error)?;
        let meta = backprop::model::safetensors_metadata(data, &source).map_err(value_error)?;
        Ok((Network::from_mlp(mlp), meta))
    }

    /// The model file's bytes, with `meta` entries besides the model's own.
    fn to_bytes<'py>(&self, py: Python<'py>, meta: BTreeMap<String, String>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = with(py, &self.inner, |s| s.mlp.to_safetensors_with(&meta).map_err(value_error))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes the model file to `path` atomically (a temporary file renamed
    /// over it), with `meta` entries besides the model's own.
    fn save(&self, py: Python<'_>, path: PathBuf, meta: BTreeMap<String, String>) -> PyResult<()> {
        let bytes = with(py, &self.inner, |s| s.mlp.to_safetensors_with(&meta).map_err(value_error))?;
        py.detach(|| backprop::model::write_atomic(Path::new(&path), &bytes)).map_err(value_error)
    }

    #[getter]
    fn sizes(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        with(py, &self.inner, |s| Ok(s.mlp.sizes().to_vec()))
    }

    #[getter]
    fn activation(&self, py: Python<'_>) -> PyResult<&'static str> {
        with(py, &self.inner, |s| Ok(s.mlp.activation().name()))
    }

    #[getter]
    fn head(&self, py: Python<'_>) -> PyResult<&'static str> {
        with(py, &self.inner, |s| Ok(s.mlp.head().name()))
    }

    /// Every parameter, layer by layer: `W` (inputs × outputs, row-major)
    /// then `b`. A copy.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        Ok(with(py, &self.inner, |s| Ok(s.mlp.params().to_vec()))?.into_pyarray(py))
    }

    /// Replaces every parameter (the layout of [`params`](Self::params)).
    fn set_params(&self, py: Python<'_>, values: PyReadonlyArray1<'_, f32>) -> PyResult<()> {
        let v = values.as_slice().map_err(|_| PyValueError::new_err("parameters must be contiguous float32"))?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(PyValueError::new_err(format!("parameter {i} is not finite")));
        }
        with(py, &self.inner, |s| {
            let n = s.mlp.params().len();
            if v.len() != n {
                return Err(PyValueError::new_err(format!("{} parameters given, the network has {n}", v.len())));
            }
            s.mlp.params_mut().copy_from_slice(v);
            s.predictor = None;
            Ok(())
        })
    }

    /// The outputs for rows `x` (rows × inputs): probabilities for the
    /// softmax and logistic heads, values for the linear head; on `threads`
    /// threads (0: every core), products in `precision` ("fp32" or
    /// "bf16"), without the GIL.
    #[pyo3(signature = (x, threads, precision = "fp32"))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        threads: usize,
        precision: &str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let precision = Precision::parse(precision).map_err(value_error)?;
        let (xs, rows, cols) = matrix(&x, "X")?;
        let (y, outputs) = with(py, &self.inner, |s| {
            let (i, o) = (s.mlp.inputs(), s.mlp.outputs());
            if cols != i {
                let msg = format!("X has {cols} features, but the network takes {i} inputs");
                return Err(PyValueError::new_err(msg));
            }
            let mut y = vec![0.0; rows * o];
            s.predictor(threads, precision)?.predict(xs, rows, &mut y).map_err(value_error)?;
            Ok((y, o))
        })?;
        let y = y.into_pyarray(py);
        y.reshape([rows, outputs])
    }

    /// The outputs for rows of raw table cells (`cells`, row-major, each
    /// row the model's columns), each read as the model's training read its
    /// column (`Predictor::predict_cells`: text categories one-hot, missing
    /// cells, `""`, filled); on `threads` threads in `precision`.
    #[pyo3(signature = (cells, threads, precision = "fp32"))]
    fn predict_cells<'py>(
        &self,
        py: Python<'py>,
        cells: Vec<String>,
        threads: usize,
        precision: &str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let precision = Precision::parse(precision).map_err(value_error)?;
        let (y, rows, outputs) = with(py, &self.inner, |s| {
            let o = s.mlp.outputs();
            let p = s.predictor(threads, precision)?;
            let columns = p.columns();
            if columns == 0 || !cells.len().is_multiple_of(columns) {
                let msg = format!("{} cells do not make rows of the model's {columns} columns", cells.len());
                return Err(PyValueError::new_err(msg));
            }
            let rows = cells.len() / columns;
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            let mut y = vec![0.0; rows * o];
            p.predict_cells(&cells, rows, &mut y).map_err(value_error)?;
            Ok((y, rows, o))
        })?;
        y.into_pyarray(py).reshape([rows, outputs])
    }
}

impl NetState {
    /// The predictor on `threads` threads (0: every core) in `precision`,
    /// made anew when either changed.
    fn predictor(&mut self, threads: usize, precision: Precision) -> PyResult<&mut Predictor> {
        let threads = if threads == 0 { TrainConfig::default().effective_threads() } else { threads };
        let NetState { mlp, predictor } = self;
        if predictor.as_ref().is_none_or(|(_, t, p)| (*t, *p) != (threads, precision)) {
            let p = Predictor::with_precision(mlp, threads, precision).map_err(value_error)?;
            *predictor = Some((p, threads, precision));
        }
        Ok(&mut predictor.as_mut().expect("made above").0)
    }
}

/// The rows of an epoch: inputs `x`, targets `t` and (when given) weights
/// `w` of `n` rows.
#[derive(Clone, Copy)]
struct Rows<'a> {
    x: &'a [f32],
    t: &'a [f32],
    w: Option<&'a [f32]>,
    n: usize,
}

/// The running `Σ w·E` and `Σ w` of an epoch.
#[derive(Clone, Copy, Default)]
struct LossSum {
    loss: f64,
    weight: f64,
}

/// A trainer and the row order of its epochs.
struct FitState {
    trainer: Trainer,
    /// The optimizer's weight decay for steps without row weights.
    weight_decay: f64,
    /// With row weights, each step's weight decay is this over the
    /// batch's `Σ w` (scikit-learn's `alpha/Σw`).
    decay_per_weight: f64,
    rng: Rng,
    order: Vec<usize>,
    shuffle: bool,
    batch: usize,
}

impl FitState {
    /// One epoch, as `backprop train` runs it: the order shuffled (unless
    /// shuffling is off), then a step per batch of `batch` rows in that
    /// order. The order carries over from epoch to epoch while the row
    /// count stays; another count starts it anew from `0..rows`. Every
    /// [`SIGNAL_POLL`] (between steps) `poll` may stop it with its error
    /// (Ctrl-C's `KeyboardInterrupt`). Returns the (weighted) mean error of
    /// the rows over the epoch.
    fn epoch(&mut self, rows: Rows<'_>, poll: &mut dyn FnMut() -> PyResult<()>) -> PyResult<f64> {
        if self.order.len() != rows.n {
            self.order = (0..rows.n).collect();
        }
        if self.shuffle {
            self.rng.shuffle(&mut self.order);
        }
        let (mut at, mut sum) = (0, LossSum::default());
        while at < rows.n {
            // On the trainer's pool thread: no hand-over a step.
            (at, sum) =
                Trainer::within_of(self, |s| &mut s.trainer, |s| s.steps(rows, at, sum)).map_err(value_error)?;
            poll()?;
        }
        Ok(if sum.weight > 0.0 { sum.loss / sum.weight } else { 0.0 })
    }

    /// Steps over the batches of the order from position `from`, for about
    /// [`SIGNAL_POLL`], adding their rows to `sum`; returns where they
    /// stopped and the sums.
    fn steps(&mut self, rows: Rows<'_>, from: usize, mut sum: LossSum) -> backprop::Result<(usize, LossSum)> {
        let FitState { trainer, order, batch, weight_decay, decay_per_weight, .. } = self;
        let b = (*batch).min(rows.n).max(1);
        let (start, mut at) = (Instant::now(), from);
        while at < rows.n && start.elapsed() < SIGNAL_POLL {
            let idx = &order[at..(at + b).min(rows.n)];
            let total = rows.w.map(|w| idx.iter().fold(0.0, |acc, &r| acc + f64::from(w[r])));
            if *decay_per_weight > 0.0 {
                // alpha/Σw with weights, else the decay of the fit's batch.
                let decay = total.filter(|&t| t > 0.0).map_or(*weight_decay, |t| *decay_per_weight / t);
                trainer.set_weight_decay(decay)?;
            }
            match rows.w {
                Some(w) => trainer.step_rows_weighted(rows.x, rows.t, w, idx)?,
                None => trainer.step_rows(rows.x, rows.t, idx)?,
            };
            for (l, &r) in trainer.last_losses().zip(idx) {
                let w = rows.w.map_or(1.0, |w| f64::from(w[r]));
                sum = LossSum { loss: sum.loss + w * f64::from(l), weight: sum.weight + w };
            }
            at += idx.len();
        }
        Ok((at, sum))
    }
}

/// A training run: `Fit(network, batch_size, ...)` starts from the
/// network's weights (which it leaves as they are: take the trained ones
/// with [`network`](Self::network)) and takes steps of `batch_size` rows.
#[pyclass(module = "backprop._native", frozen)]
struct Fit {
    inner: Mutex<FitState>,
    features: usize,
    outputs: usize,
}

/// The optimizer named `solver` with its settings.
fn optimizer(solver: &str, sgd: Sgd, adam: Adam) -> PyResult<Box<dyn Optimizer>> {
    Ok(match solver {
        "sgd" => Box::new(sgd),
        "adam" => Box::new(adam),
        "adamw" => {
            Box::new(AdamW { beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps, weight_decay: adam.weight_decay })
        }
        other => return Err(PyValueError::new_err(format!("unknown solver {other:?}"))),
    })
}

#[pymethods]
impl Fit {
    /// `schedule` is "constant" or "cosine" (to 0 over `total_steps`
    /// steps); `threads` 0 means every core. `batch_size` is the batch of
    /// `backprop train --batch-size` clipped to the rows, as the CLI clips
    /// it, so the results are the CLI's for the same settings (whatever
    /// the cut and the threads). `weight_decay` is the optimizer's; in an
    /// epoch with row weights, each step's is `decay_per_weight / Σw` of
    /// its batch instead.
    #[new]
    #[pyo3(signature = (network, batch_size, *, total_steps, shuffle, seed, solver, lr, momentum, nesterov,
                        weight_decay, decay_per_weight, beta1, beta2, eps, schedule, clip_norm, threads,
                        precision = "fp32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        network: &Network,
        batch_size: usize,
        total_steps: u64,
        shuffle: bool,
        seed: u64,
        solver: &str,
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
        decay_per_weight: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        schedule: &str,
        clip_norm: Option<f64>,
        threads: usize,
        precision: &str,
    ) -> PyResult<Fit> {
        let precision = Precision::parse(precision).map_err(value_error)?;
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        if !(decay_per_weight.is_finite() && decay_per_weight >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "decay_per_weight must be finite and ≥ 0, got {decay_per_weight}"
            )));
        }
        let mlp = with(py, &network.inner, |s| Ok(s.mlp.clone()))?;
        if let Some(what) = mlp.scaling().name() {
            // Its steps would see raw rows while its predictions scale them.
            return Err(PyValueError::new_err(format!(
                "the network standardises its {what}; train it with `backprop train --init`, which applies the scaling"
            )));
        }
        let (features, outputs, batch) = (mlp.inputs(), mlp.outputs(), batch_size);
        let kind = match schedule {
            "constant" => ScheduleKind::Constant,
            "cosine" => ScheduleKind::Cosine { total_steps },
            other => return Err(PyValueError::new_err(format!("unknown schedule {other:?}"))),
        };
        let config = TrainConfig {
            batch_size: batch,
            threads,
            lr,
            schedule: Schedule { kind, warmup_steps: 0 },
            clip_norm,
            precision,
            ..TrainConfig::default()
        };
        let sgd = Sgd { momentum, nesterov, weight_decay };
        let adam = Adam { beta1, beta2, eps, weight_decay };
        let trainer = Trainer::with_optimizer(mlp, config, optimizer(solver, sgd, adam)?).map_err(value_error)?;
        let (rng, order) = (epoch_rng(seed), Vec::new());
        let state = FitState { trainer, weight_decay, decay_per_weight, rng, order, shuffle, batch };
        Ok(Fit { inner: Mutex::new(state), features, outputs })
    }

    /// One epoch over `x` (rows × features), the encoded targets `t`
    /// (rows × outputs) and the rows' weights `w` (finite, ≥ 0; none: 1
    /// each), without the GIL; returns the epoch's (weighted) mean error.
    #[pyo3(signature = (x, t, w=None))]
    fn epoch(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        t: PyReadonlyArray2<'_, f32>,
        w: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<f64> {
        let (xs, xr, xc) = matrix(&x, "X")?;
        let (ts, tr, tc) = matrix(&t, "targets")?;
        let ws = w
            .as_ref()
            .map(|w| w.as_slice())
            .transpose()
            .map_err(|_| PyValueError::new_err("sample_weight must be a contiguous float32 array"))?;
        if let Some(ws) = ws.filter(|ws| ws.len() != xr) {
            return Err(PyValueError::new_err(format!("{} sample weights for {xr} rows", ws.len())));
        }
        if xr == 0 || (xc, tr, tc) != (self.features, xr, self.outputs) {
            let msg = format!(
                "this fit takes rows of {} features and {} targets, got X {xr}×{xc} and targets {tr}×{tc}",
                self.features, self.outputs
            );
            return Err(PyValueError::new_err(msg));
        }
        // Signals are looked for with the GIL, between steps.
        let mut poll = || Python::attach(|py| py.check_signals());
        with(py, &self.inner, |s| s.epoch(Rows { x: xs, t: ts, w: ws, n: xr }, &mut poll))
    }

    /// The network as trained so far (a copy).
    fn network(&self, py: Python<'_>) -> PyResult<Network> {
        with(py, &self.inner, |s| Ok(Network::from_mlp(s.trainer.mlp().clone())))
    }

    /// Optimizer steps taken.
    #[getter]
    fn steps(&self, py: Python<'_>) -> PyResult<u64> {
        with(py, &self.inner, |s| Ok(s.trainer.steps()))
    }

    /// Threads the trainer runs on.
    #[getter]
    fn threads(&self, py: Python<'_>) -> PyResult<usize> {
        with(py, &self.inner, |s| Ok(s.trainer.threads()))
    }
}

/// Row numbers, as a numpy array.
type RowIndex<'py> = Bound<'py, PyArray1<usize>>;

/// The rows of a table of `rows` kept for training and held out for
/// validation, as `backprop train --val-split FRACTION --seed SEED` splits
/// them.
#[pyfunction]
fn validation_split<'py>(
    py: Python<'py>,
    rows: usize,
    fraction: f64,
    seed: u64,
) -> PyResult<(RowIndex<'py>, RowIndex<'py>)> {
    let (keep, val) = split_rows(rows, fraction, seed).map_err(value_error)?;
    Ok((keep.into_pyarray(py), val.into_pyarray(py)))
}

/// The SIMD path of the elementwise kernels on this CPU.
#[pyfunction]
fn simd_path() -> String {
    backprop::simd_path().to_string()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Network>()?;
    m.add_class::<Fit>()?;
    m.add_function(wrap_pyfunction!(validation_split, m)?)?;
    m.add_function(wrap_pyfunction!(simd_path, m)?)?;
    Ok(())
}
