//! Inference: the trainer's forward pass alone ([`forward`]), with the
//! weights packed once, the rows split across the predictor's own pool, and
//! no allocation per call once the first call at a batch size is done.
//!
//! [`forward`]: crate::train::forward::forward

use super::{Mlp, Scaling};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::kernels::gemm::{gemm_path, MatRef, PackedB};
use crate::kernels::Kernels;
use crate::layers::Activation;
use crate::mem::{product, vec_of, zeros};
use crate::train::forward::{forward, Ctx, Net, Weights};
use crate::train::pool::{Pool, ScratchPool};
use crate::train::sparse_inputs;
use crate::TrainConfig;
use rayon::prelude::*;

/// Rows pushed through the network at a time by one thread.
const CHUNK: usize = 256;

/// Forward passes of fewer floating-point operations than this
/// (`2·rows·Σ in·out`) run on the calling thread, pool or not.
const MIN_PARALLEL_FLOPS: f64 = 8e6;

/// One thread's buffers: activations of every layer for `CHUNK` rows, and
/// (for a model that standardises) its inputs and targets scaled.
struct Worker {
    h: Vec<Vec<f32>>,
    delta: Vec<f32>,
    xs: Vec<f32>,
    ts: Vec<f32>,
}

/// A network ready for repeated forward passes: its weights packed for the
/// GEMM, a pool of threads, and per thread the activation buffers of
/// `CHUNK` rows. Independent of the [`Mlp`] it was made from (it holds a
/// packed copy of the weights); [`load`](Self::load) takes new weights of
/// the same sizes without allocating. A model's [`Scaling`] is applied: the
/// inputs are standardised before the first layer and a linear head's
/// outputs un-scaled, so callers pass and get raw values.
pub struct Predictor {
    sizes: Vec<usize>,
    scaling: Scaling,
    activation: Activation,
    head: Head,
    packed: Vec<PackedB>,
    biases: Vec<Vec<f32>>,
    /// The first layer's `W` as it lies, for inputs that are mostly zeros
    /// (none when the model standardises its inputs).
    first: Vec<f32>,
    workers: Vec<Worker>,
    scratch: ScratchPool,
    pool: Pool,
    kernels: Kernels,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor").field("sizes", &self.sizes).field("threads", &self.pool.threads()).finish()
    }
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
        let config = TrainConfig { threads, ..TrainConfig::default() };
        config.validate()?;
        let threads = config.effective_threads();
        let sizes = mlp.sizes().to_vec();
        let mut l = 0;
        let biases = vec_of(mlp.num_layers(), "biases", || {
            l += 1;
            zeros(sizes[l], "biases")
        })?;
        let mut p = Predictor {
            packed: vec_of(mlp.num_layers(), "packed weights", || Ok(PackedB::new()))?,
            biases,
            first: if mlp.scaling().inputs.is_none() {
                zeros(sizes[0] * sizes[1], "first layer weights")?
            } else {
                Vec::new()
            },
            workers: vec_of(threads, "predictor buffers", || Worker::new(&sizes, mlp.scaling()))?,
            scratch: ScratchPool::new(threads)?,
            pool: Pool::new(threads)?,
            kernels: Kernels::active(),
            activation: mlp.activation(),
            head: mlp.head(),
            scaling: mlp.scaling().clone(),
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
        if mlp.sizes() != self.sizes || mlp.activation() != self.activation || mlp.head() != self.head {
            let want = format!("{:?} {} {}", self.sizes, self.activation, self.head);
            let got = format!("{:?} {} {}", mlp.sizes(), mlp.activation(), mlp.head());
            return Err(Error::shape("predictor network", want, got));
        }
        if !self.first.is_empty() {
            self.first.copy_from_slice(mlp.layer(0).expect("layer 0").weight);
        }
        for (l, (p, b)) in self.packed.iter_mut().zip(&mut self.biases).enumerate() {
            let layer = mlp.layer(l).expect("layer index below num_layers");
            p.pack(MatRef::new(layer.weight, layer.inputs, layer.outputs)?, gemm_path())?;
            b.copy_from_slice(layer.bias);
        }
        Ok(())
    }

    /// Threads of the predictor's pool.
    pub fn threads(&self) -> usize {
        self.pool.threads()
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
        self.run(x, None, rows, out, None)
    }

    /// Like [`predict`](Self::predict), and also writes each row's error
    /// against targets `t` (rows × outputs) into `loss` (rows values). The
    /// error is the training objective's: with scaled targets, it is
    /// measured against the standardised targets.
    pub fn predict_with_loss(
        &mut self,
        x: &[f32],
        t: &[f32],
        rows: usize,
        out: &mut [f32],
        loss: &mut [f32],
    ) -> Result<()> {
        self.check(x, rows, out)?;
        if t.len() != out.len() {
            return Err(Error::shape("targets", out.len(), t.len()));
        }
        if loss.len() != rows {
            return Err(Error::shape("loss rows", rows, loss.len()));
        }
        self.run(x, Some(t), rows, out, Some(loss))
    }

    /// Whether a call on `rows` rows splits them across the pool: there is
    /// more than one thread, more than one row, and at least 8 MFLOP of work.
    pub fn parallel_for(&self, rows: usize) -> bool {
        let flops = 2.0 * rows as f64 * self.sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>();
        self.pool.parallel() && flops >= MIN_PARALLEL_FLOPS && rows > 1
    }

    /// The pass over every row: one contiguous range of rows per thread
    /// when the work is worth the pool, each range in `CHUNK`-row pieces.
    fn run(
        &mut self,
        x: &[f32],
        t: Option<&[f32]>,
        rows: usize,
        out: &mut [f32],
        loss: Option<&mut [f32]>,
    ) -> Result<()> {
        let par = self.parallel_for(rows);
        // Decided for the whole call, so that no thread count changes it.
        let sparse = !self.first.is_empty() && sparse_inputs(&self.kernels, x);
        let Predictor { sizes, activation, head, packed, biases, first, workers, scratch, pool, kernels, scaling } =
            self;
        let net = Net { sizes, activation: *activation, weights: Weights::Packed { packed, biases, first } };
        let net = Scaled { net, scaling, sparse };
        let (i, o) = (sizes[0], *sizes.last().expect("two sizes"));
        let per = if par { rows.div_ceil(workers.len()) } else { rows };
        let ctx = Ctx { kernels: *kernels, scratch, threads: 1 };
        let (head, net, ctx) = (*head, &net, &ctx);
        pool.run_if(par, || match (t, loss) {
            (Some(t), Some(loss)) if par => {
                let parts = x.par_chunks(per * i).zip(out.par_chunks_mut(per * o));
                let parts = parts.zip(t.par_chunks(per * o).zip(loss.par_chunks_mut(per)));
                workers
                    .par_iter_mut()
                    .zip(parts)
                    .try_for_each(|(w, ((x, y), (t, l)))| w.rows(net, head, x, Some(t), y, Some(l), ctx))
            }
            (t, loss) if !par => workers[0].rows(net, head, x, t, out, loss, ctx),
            _ => {
                let parts = x.par_chunks(per * i).zip(out.par_chunks_mut(per * o));
                workers.par_iter_mut().zip(parts).try_for_each(|(w, (x, y))| w.rows(net, head, x, None, y, None, ctx))
            }
        })
    }
}

/// A network, what it standardises, and whether the inputs are mostly
/// zeros.
struct Scaled<'a> {
    net: Net<'a>,
    scaling: &'a Scaling,
    sparse: bool,
}

impl Worker {
    fn new(sizes: &[usize], scaling: &Scaling) -> Result<Worker> {
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
        Ok(Worker { h, delta, xs, ts })
    }

    /// The forward pass and head for the rows of `x`, `CHUNK` at a time:
    /// outputs into `y`, and with targets `t` each row's error into `loss`.
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &mut self,
        scaled: &Scaled<'_>,
        head: Head,
        x: &[f32],
        t: Option<&[f32]>,
        y: &mut [f32],
        mut loss: Option<&mut [f32]>,
        ctx: &Ctx<'_>,
    ) -> Result<()> {
        let (net, scaling) = (&scaled.net, scaled.scaling);
        let (i, o) = (net.sizes[0], *net.sizes.last().expect("two sizes"));
        let last = net.sizes.len() - 2;
        let bias = match &net.weights {
            Weights::Packed { biases, .. } => &biases[last][..],
            Weights::InPlace(m) => m.layer(last).expect("layer exists").bias,
        };
        for (c, (xc, yc)) in x.chunks(CHUNK * i).zip(y.chunks_mut(CHUNK * o)).enumerate() {
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
            forward(net, xc, scaled.sparse, r, &mut self.h, None, ctx)?;
            yc.copy_from_slice(&self.h[last][..r * o]);
            match (t, loss.as_deref_mut()) {
                (Some(t), Some(loss)) => {
                    let (mut tc, lc) = (&t[c * CHUNK * o..][..r * o], &mut loss[c * CHUNK..][..r]);
                    if let Some(s) = &scaling.targets {
                        self.ts[..r * o].copy_from_slice(tc);
                        s.apply(&mut self.ts[..r * o]);
                        tc = &self.ts[..r * o];
                    }
                    head.forward_loss(&ctx.kernels, yc, bias, tc, &mut self.delta[..r * o], lc, 1.0)?;
                }
                _ => head.forward(&ctx.kernels, yc, bias)?,
            }
            if let Some(s) = &scaling.targets {
                s.unapply(yc);
            }
        }
        Ok(())
    }
}
