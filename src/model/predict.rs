//! Inference: the forward pass ([`forward`](crate::net::forward)) with the
//! weights packed once, the rows split across the predictor's own pool,
//! and no allocation per call once the first call at a batch size is done.

use super::cells::CellReader;
use super::{Mlp, Scaling};
use crate::error::{Error, Result};
use crate::exec::{default_min_parallel_flops, Chunks, ChunksMut, Pool, Team};
use crate::head::Head;
use crate::kernels::gemm::{GemmScratch, Mode, PackedA, Precision};
use crate::kernels::{HeadRows, Kernels};
use crate::layers::Activation;
use crate::mem::{product, vec_of, zeros};
use crate::net::{forward, sparse_inputs, Input, Net, PackedWeights, Work};
use crate::TrainConfig;

/// Rows pushed through the network at a time by one thread.
const CHUNK: usize = 256;

/// One thread's buffers: activations of every layer for `CHUNK` rows, GEMM
/// packing space, and (for a model that standardises) its inputs and
/// targets scaled.
struct Worker {
    h: Vec<Vec<f32>>,
    delta: Vec<f32>,
    xs: Vec<f32>,
    ts: Vec<f32>,
    scratch: [GemmScratch; 1],
    /// A layer's input packed once, for a layer wider than one block of
    /// the GEMM's columns.
    packed_input: PackedA,
}

/// A network ready for repeated forward passes: its weights packed for the
/// GEMM, a pool of threads, and per thread the activation buffers of
/// `CHUNK` rows. Independent of the [`Mlp`] it was made from (it holds a
/// copy of the parameters); [`load`](Self::load) takes new weights of the
/// same sizes without allocating. A model's [`Scaling`] is applied: the
/// inputs are standardised before the first layer and a linear head's
/// outputs un-scaled, so callers pass and get raw values.
///
/// A call of fewer than 5 MFLOP (`2·rows·Σ in·out`) runs on the calling
/// thread; larger ones split their rows across the pool, the rule
/// training follows too.
pub struct Predictor {
    sizes: Vec<usize>,
    scaling: Scaling,
    activation: Activation,
    head: Head,
    params: Vec<f32>,
    packed: PackedWeights,
    workers: Vec<Worker>,
    pool: Pool,
    kernels: Kernels,
    mode: Mode,
    /// Rows of raw cells → inputs ([`predict_cells`](Self::predict_cells)).
    cells: CellReader,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor").field("sizes", &self.sizes).field("threads", &self.pool.threads()).finish()
    }
}

/// A call's rows: inputs and outputs, and with targets each row's error.
struct Call<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    t: Option<&'a [f32]>,
    loss: Option<&'a mut [f32]>,
}

/// Rows with their targets, for [`Predictor::predict_with_loss`].
#[derive(Clone, Copy, Debug)]
pub struct LabeledRows<'a> {
    /// Inputs, rows × inputs.
    pub x: &'a [f32],
    /// Targets, rows × outputs.
    pub t: &'a [f32],
    /// How many rows.
    pub rows: usize,
}

impl Predictor {
    /// A predictor for `mlp` on every core.
    pub fn new(mlp: &Mlp) -> Result<Self> {
        Predictor::with_threads(mlp, 0)
    }

    /// A predictor for `mlp` on its own pool of `threads` threads (0: every
    /// core; 1: the calling thread, no pool). Errors when a buffer cannot be
    /// allocated or the threads cannot start.
    pub fn with_threads(mlp: &Mlp, threads: usize) -> Result<Self> {
        Predictor::with_precision(mlp, threads, Precision::Fp32)
    }

    /// [`with_threads`](Self::with_threads) whose products run in
    /// `precision`: in bf16 the weights are kept packed as bf16 (half the
    /// bytes where the CPU has bf16 instructions) and each call's inputs
    /// and activations are rounded to bf16 as they are packed; sums, bias,
    /// activations and the head stay f32. An error when this CPU's GEMM
    /// path has no such mode (`BACKPROP_GEMM=matrixmultiply` in bf16).
    pub fn with_precision(mlp: &Mlp, threads: usize, precision: Precision) -> Result<Self> {
        let config = TrainConfig { threads, precision, ..TrainConfig::default() };
        config.validate()?;
        let threads = config.effective_threads();
        let sizes = mlp.sizes().to_vec();
        let mode = Mode::of(precision);
        let mut p = Predictor {
            params: zeros(mlp.params().len(), "parameters")?,
            packed: PackedWeights::new(mlp.num_layers(), false, mode)?,
            mode,
            workers: vec_of(threads, "predictor buffers", || Worker::new(&sizes, mlp.scaling(), mode))?,
            pool: Pool::new(threads, default_min_parallel_flops())?,
            kernels: Kernels::active(),
            activation: mlp.activation(),
            head: mlp.head(),
            scaling: mlp.scaling().clone(),
            cells: CellReader::new(mlp.encoding(), mlp.inputs()),
            sizes,
        };
        p.load(mlp)?;
        Ok(p)
    }

    /// Takes the weights of `mlp`, which must have this predictor's sizes,
    /// activation, head and scaling (for example the trainer's network after
    /// more steps). Allocates nothing.
    pub fn load(&mut self, mlp: &Mlp) -> Result<()> {
        if mlp.scaling() != &self.scaling {
            return Err(Error::config("predictor network", "the model's scaling differs from the predictor's"));
        }
        if self.cells.encoding() != mlp.encoding() {
            return Err(Error::config("predictor network", "the model's input encoding differs from the predictor's"));
        }
        if mlp.sizes() != self.sizes || mlp.activation() != self.activation || mlp.head() != self.head {
            let want = format!("{:?} {} {}", self.sizes, self.activation, self.head);
            let got = format!("{:?} {} {}", mlp.sizes(), mlp.activation(), mlp.head());
            return Err(Error::shape("predictor network", want, got));
        }
        self.params.copy_from_slice(mlp.params());
        self.packed.pack(&self.sizes, &self.params, Team::alone())
    }

    /// Threads of the predictor's pool.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// The GEMM mode its products run in (path and precision).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn check(&self, x: &[f32], rows: usize, out: &[f32]) -> Result<()> {
        let (i, o) = (self.sizes[0], *self.sizes.last().expect("two sizes"));
        if rows.checked_mul(i) != Some(x.len()) {
            return Err(Error::shape("inputs", format!("{rows} rows × {i} features"), format!("{} values", x.len())));
        }
        if rows.checked_mul(o) != Some(out.len()) {
            return Err(Error::shape("outputs", format!("{rows} rows × {o} outputs"), format!("{} values", out.len())));
        }
        Ok(())
    }

    /// Writes the head's outputs for `rows` rows of `x` (rows × inputs) into
    /// `out` (rows × outputs): probabilities for softmax and logistic,
    /// values for linear.
    pub fn predict(&mut self, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
        self.check(x, rows, out)?;
        self.run(Call { x, y: out, t: None, loss: None })
    }

    /// Writes the outputs of `rows` rows of raw table cells (row-major,
    /// rows × [`columns`](Self::columns)) into `out` (rows × outputs): each
    /// cell read as the model's training read its column (a number; a
    /// category, one-hot; a missing cell filled, see
    /// [`Encoding`](crate::data::Encoding)), as `backprop predict` reads a
    /// CSV. Leading and trailing spaces are ignored. An error names the row
    /// and column (from 1) of a cell the model cannot read. Allocates
    /// nothing once a call of as many rows has been made.
    pub fn predict_cells(&mut self, cells: &[&str], rows: usize, out: &mut [f32]) -> Result<()> {
        let x = self.cells.inputs(cells, rows)?;
        let done = self.predict(&x, rows, out);
        self.cells.give_back(x);
        done
    }

    /// Cells a row of [`predict_cells`](Self::predict_cells) holds: the
    /// columns of the model's encoding, or one a input.
    pub fn columns(&self) -> usize {
        self.cells.columns()
    }

    /// Like [`predict`](Self::predict) on `r.x`, and also writes each row's
    /// error against the targets `r.t` (rows × outputs) into `loss` (rows
    /// values). The error is the training objective's: with scaled
    /// targets, it is measured against the standardised targets.
    pub fn predict_with_loss(&mut self, r: LabeledRows<'_>, out: &mut [f32], loss: &mut [f32]) -> Result<()> {
        let LabeledRows { x, t, rows } = r;
        self.check(x, rows, out)?;
        if t.len() != out.len() {
            return Err(Error::shape("targets", out.len(), t.len()));
        }
        if loss.len() != rows {
            return Err(Error::shape("loss rows", rows, loss.len()));
        }
        self.run(Call { x, y: out, t: Some(t), loss: Some(loss) })
    }

    /// Whether a call on `rows` rows splits them across the pool: more
    /// than one thread, and at least 5 MFLOP of work.
    pub fn parallel_for(&self, rows: usize) -> bool {
        self.pool.splits(self.flops(rows))
    }

    /// `2·rows·Σ in·out`: the forward pass's floating-point operations.
    fn flops(&self, rows: usize) -> f64 {
        2.0 * rows as f64 * self.sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
    }

    /// The pass over every row: one contiguous range of rows per thread of
    /// the team, each range in `CHUNK`-row pieces.
    fn run(&mut self, call: Call<'_>) -> Result<()> {
        let rows = call.y.len() / self.head_width();
        let flops = self.flops(rows);
        // Decided for the whole call, so that no thread count changes it.
        let sparse = self.scaling.inputs.is_none() && sparse_inputs(&self.kernels, call.x);
        let Predictor { sizes, activation, head, params, packed, workers, pool, kernels, scaling, mode, .. } = self;
        let net = Net { sizes, activation: *activation, params, packed: Some(packed), kernels: *kernels, mode: *mode };
        let (net, head, scaling) = (&net, *head, &*scaling);
        let (i, o) = (sizes[0], *sizes.last().expect("two sizes"));
        pool.run(flops, |team| {
            let per = rows.div_ceil(team.threads()).max(1);
            let n = rows.div_ceil(per);
            let parts = (Chunks::new(call.x, per * i), ChunksMut::new(call.y, per * o));
            // Without targets, empty chunks stand in for them.
            let t = Chunks::padded(call.t.unwrap_or(&[]), per * o, n);
            let scored = (t, ChunksMut::padded(call.loss.unwrap_or(&mut []), per, n));
            team.try_for_each((&mut workers[..], (parts, scored)), |(w, ((x, y), (t, loss)))| {
                let (t, loss) = if loss.is_empty() { (None, None) } else { (Some(t), Some(loss)) };
                w.rows(Call { x, y, t, loss }, Pass { net, head, scaling, sparse })
            })
        })
    }

    /// Outputs a row.
    fn head_width(&self) -> usize {
        *self.sizes.last().expect("two sizes")
    }
}

/// What every worker's rows go through.
#[derive(Clone, Copy)]
struct Pass<'a> {
    net: &'a Net<'a>,
    head: Head,
    scaling: &'a Scaling,
    sparse: bool,
}

impl Worker {
    fn new(sizes: &[usize], scaling: &Scaling, mode: Mode) -> Result<Worker> {
        let mut l = 0;
        let h = vec_of(sizes.len() - 1, "activations", || {
            l += 1;
            zeros(product(CHUNK, sizes[l], "activations")?, "activations")
        })?;
        let o = *sizes.last().expect("two sizes");
        let delta = zeros(product(CHUNK, o, "deltas")?, "deltas")?;
        let buf = |on: bool, n: usize| {
            if on {
                zeros(product(CHUNK, n, "scaled rows")?, "scaled rows")
            } else {
                Ok(Vec::new())
            }
        };
        let (xs, ts) = (buf(scaling.inputs.is_some(), sizes[0])?, buf(scaling.targets.is_some(), o)?);
        Ok(Worker { h, delta, xs, ts, scratch: [GemmScratch::for_packed_b(mode)?], packed_input: PackedA::new() })
    }

    /// The forward pass and head for the rows of `call`, `CHUNK` at a time:
    /// outputs into `y`, and with targets `t` each row's error into `loss`.
    fn rows(&mut self, mut call: Call<'_>, pass: Pass<'_>) -> Result<()> {
        let Pass { net, head, scaling, sparse } = pass;
        let (i, o) = (net.sizes[0], *net.sizes.last().expect("two sizes"));
        let last = net.layers() - 1;
        let bias = net.bias(last);
        for (c, (xc, yc)) in call.x.chunks(CHUNK * i).zip(call.y.chunks_mut(CHUNK * o)).enumerate() {
            let r = xc.len() / i;
            let xc = match &scaling.inputs {
                Some(s) => {
                    let xs = &mut self.xs[..r * i];
                    xs.copy_from_slice(xc);
                    s.apply(xs);
                    &*xs
                }
                None => xc,
            };
            let mut work =
                Work { scratch: &mut self.scratch, shared: Some(&mut self.packed_input), team: Team::alone() };
            forward(&mut self.h, Input { x: xc, rows: r, sparse }, net, &mut work)?;
            yc.copy_from_slice(&self.h[last][..r * o]);
            match (call.t, call.loss.as_deref_mut()) {
                (Some(t), Some(loss)) => {
                    let (mut tc, lc) = (&t[c * CHUNK * o..][..r * o], &mut loss[c * CHUNK..][..r]);
                    if let Some(s) = &scaling.targets {
                        self.ts[..r * o].copy_from_slice(tc);
                        s.apply(&mut self.ts[..r * o]);
                        tc = &self.ts[..r * o];
                    }
                    let rows = HeadRows {
                        s: yc,
                        b: bias,
                        t: tc,
                        delta: &mut self.delta[..r * o],
                        loss: lc,
                        scale: 1.0,
                        weights: None,
                    };
                    head.forward_loss(&net.kernels, rows)?;
                }
                _ => head.forward(&net.kernels, yc, bias)?,
            }
            if let Some(s) = &scaling.targets {
                s.unapply(yc);
            }
        }
        Ok(())
    }
}
