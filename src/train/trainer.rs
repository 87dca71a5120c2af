//! The trainer: the network, the optimizer and its state, the workspaces
//! of a step, and how its gradient comes together. The step itself is
//! `step.rs`.

use super::config::TrainConfig;
use super::gradient::{tile_work, TileWork};
use super::reduce::{Chain, Local, Reduce};
use super::shard::Shard;
use crate::dist::Collective;
use crate::error::{Error, Result};
use crate::exec::Pool;
use crate::kernels::gemm::{gemm_path, GemmPath, Mode};
use crate::layout::layer_ranges;
use crate::mem::{vec_of, zeros};
use crate::model::{LayerRef, Mlp};
use crate::net::PackedWeights;
use crate::optim::{Optimizer, Sgd};

/// Trains an [`Mlp`] by minibatch backpropagation on its own thread pool.
///
/// A step packs the weights once, cuts the batch into shards that run
/// forward, head and backward side by side on their own preallocated
/// workspaces, sums the gradient of every row in one order fixed by the
/// arithmetic (so the result does not depend on the thread count, the cut
/// or the number of ranks), then the optimizer updates the parameters.
/// After the first step at a given batch size a step allocates nothing.
pub struct Trainer {
    /// Everything a step works on.
    pub(super) core: Core,
    /// The threads it runs on.
    pub(super) pool: Pool,
}

/// A trainer's network, optimizer, workspaces and sum: all but its pool,
/// so that a step can borrow both.
pub(super) struct Core {
    pub(super) mlp: Mlp,
    pub(super) config: TrainConfig,
    pub(super) optimizer: Box<dyn Optimizer>,
    /// The optimizer's slots (empty where unused), laid out like the
    /// parameters.
    pub(super) slots: [Vec<f32>; 2],
    /// `∂(mean E)/∂θ` of the last step, laid out like the parameters.
    pub(super) grads: Vec<f32>,
    /// `Σ g²` of the last computed gradients.
    pub(super) grad_sq: f64,
    /// Updates applied so far.
    pub(super) steps: u64,
    /// The step's `W` and `Wᵀ`, packed for the GEMM.
    pub(super) packed: PackedWeights,
    pub(super) shards: Vec<Shard>,
    pub(super) shard_rows: usize,
    /// Shards holding rows in the last step.
    pub(super) used: usize,
    /// Rows of the last step's batch (every rank's).
    pub(super) rows: usize,
    pub(super) tiles: Vec<TileWork>,
    /// One process's sum, or the chain across ranks.
    pub(super) reduce: Box<dyn Reduce>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.core;
        f.debug_struct("Trainer")
            .field("sizes", &c.mlp.sizes())
            .field("config", &c.config)
            .field("optimizer", &c.optimizer.name())
            .field("threads", &self.pool.threads())
            .field("ranks", &c.reduce.collective().map_or(1, |c| c.size()))
            .finish()
    }
}

/// The optimizer's slots for `n` parameters, zero: as many as it uses,
/// the others empty.
fn optimizer_slots(optimizer: &dyn Optimizer, n: usize) -> Result<[Vec<f32>; 2]> {
    let slot = |i: usize| if optimizer.slots() > i { zeros(n, "optimizer state") } else { Ok(Vec::new()) };
    Ok([slot(0)?, slot(1)?])
}

impl Trainer {
    /// A trainer with plain SGD at `config.lr`.
    pub fn new(mlp: Mlp, config: TrainConfig) -> Result<Trainer> {
        Trainer::with_optimizer(mlp, config, Box::new(Sgd::default()))
    }

    /// A trainer with the given optimizer.
    pub fn with_optimizer(mlp: Mlp, config: TrainConfig, optimizer: Box<dyn Optimizer>) -> Result<Trainer> {
        config.validate()?;
        optimizer.validate()?;
        let n = mlp.params().len();
        let pool = Pool::new(config.effective_threads(), config.min_parallel_flops)?;
        let core = Core {
            slots: optimizer_slots(&*optimizer, n)?,
            grads: zeros(n, "gradients")?,
            grad_sq: 0.0,
            steps: 0,
            packed: PackedWeights::new(mlp.num_layers(), true, Mode::of(config.precision))?,
            shards: Vec::new(),
            shard_rows: 1,
            used: 0,
            rows: 0,
            tiles: Vec::new(),
            reduce: Box::new(Local::new(mlp.sizes())?),
            optimizer,
            config,
            mlp,
        };
        let mut trainer = Trainer { core, pool };
        trainer.make_shards(trainer.core.config.batch_size)?;
        Ok(trainer)
    }

    /// Workspaces for this process's share of a batch: up to `rows` rows,
    /// cut into shards of the configured or chosen size.
    fn make_shards(&mut self, rows: usize) -> Result<()> {
        let (c, threads) = (&mut self.core, self.pool.threads());
        let sizes = c.mlp.sizes();
        let shard_rows = c.config.effective_shard_rows(rows, sizes);
        let (mut s, mode) = (0, Mode::of(c.config.precision));
        // Shard s runs beside at least s others: a team of at most
        // threads/(s+1).
        c.shards = vec_of(rows.div_ceil(shard_rows), "shards", || {
            s += 1;
            Shard::new(sizes, shard_rows, threads.div_ceil(s), s == 1, mode)
        })?;
        c.tiles = tile_work(sizes, shard_rows, mode)?;
        c.shard_rows = shard_rows;
        Ok(())
    }

    /// Trains data-parallel with the other ranks of `comm` from now on:
    /// rank `q` of `P` computes rows `[q·B/P, (q+1)·B/P)` of every batch
    /// and continues the gradient's sums where rank `q-1` left them, so
    /// the weights are bit-identical to one process's with the same
    /// settings, for any number of ranks and threads. Every rank must be
    /// given the same network, settings and batches, and make the same
    /// calls. The trainer's own buffers are made here; the communicator may
    /// allocate per step (the messages of [`Local`](crate::dist::Local)).
    /// An error on the `matrixmultiply` comparison GEMM, whose sums cannot
    /// be continued across processes.
    pub fn distribute(&mut self, comm: Box<dyn Collective>) -> Result<()> {
        if gemm_path() == GemmPath::MatrixMultiply {
            let msg = "the matrixmultiply GEMM path cannot continue a sum across ranks: unset BACKPROP_GEMM";
            return Err(Error::config("ranks", msg));
        }
        let (b, o) = (self.core.config.batch_size, self.core.mlp.outputs());
        // Any rank's share of any batch is at most ⌈B/P⌉ rows, and up to
        // align - 1 more where its start is rounded down.
        let align = self.core.config.precision.k_align();
        let own = b.div_ceil(comm.size().max(1)) + align - 1;
        self.core.reduce = Box::new(Chain::new(comm, self.core.mlp.sizes(), b, o, align)?);
        self.make_shards(own.max(1))
    }

    /// The ranks this trainer runs with, when [`distribute`](Self::distribute)d.
    pub fn collective(&self) -> Option<&dyn Collective> {
        self.core.reduce.collective()
    }

    /// Seconds this trainer has spent in messages and broadcasts between
    /// ranks (waiting for them included).
    pub fn communication_seconds(&self) -> f64 {
        self.core.reduce.seconds()
    }

    /// The network being trained.
    pub fn mlp(&self) -> &Mlp {
        &self.core.mlp
    }

    /// The network's parameters, mutable (for example to load new weights
    /// between steps), laid out as [`Mlp::params`]. The sizes, activation
    /// and head cannot change: the workspaces were made for them, so there
    /// is no way to swap in another network.
    ///
    /// ```compile_fail
    /// # use backprop::{Head, Mlp, TrainConfig, Trainer};
    /// let small = Mlp::builder().input(2).head(Head::Softmax, 2).build().unwrap();
    /// let mut trainer = Trainer::new(small, TrainConfig::default()).unwrap();
    /// let big = Mlp::builder().input(9).hidden(30).head(Head::Softmax, 2).build().unwrap();
    /// *trainer.mlp_mut() = big; // no such method: the next step would index out of range
    /// ```
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.core.mlp.params_mut()
    }

    /// Runs `f` with this trainer on a thread of its pool, so that the
    /// steps `f` takes there hand nothing over to the pool and back, and
    /// the pool's other threads look for work, spinning, instead of
    /// sleeping between the steps' parallel parts (for up to a millisecond
    /// at a time without any): for a loop of many steps (an epoch), where
    /// a step is small. The results are the same as outside. With one
    /// thread, or inside `within` already, `f` simply runs here. A panic in
    /// `f` resumes here, with the trainer whole.
    ///
    /// ```
    /// # use backprop::{Head, Mlp, TrainConfig, Trainer};
    /// let mlp = Mlp::builder().input(4).hidden(8).head(Head::Softmax, 2).seed(1).build()?;
    /// let mut trainer = Trainer::new(mlp, TrainConfig { batch_size: 3, threads: 2, ..TrainConfig::default() })?;
    /// let batches = vec![(vec![0.5f32; 12], vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], 3)];
    /// trainer.within(|tr| batches.iter().try_for_each(|(x, t, rows)| tr.step(x, t, *rows).map(drop)))?;
    /// assert_eq!(trainer.steps(), 1);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn within<R: Send>(&mut self, f: impl FnOnce(&mut Trainer) -> R + Send) -> R {
        Pool::stay(self, |t| &mut t.pool, f)
    }

    /// [`within`](Self::within) for a trainer that `owner` holds
    /// (`trainer(owner)`), when the loop needs the rest of the owner too:
    /// `f` gets the owner.
    pub fn within_of<S: Send + ?Sized, R: Send>(
        owner: &mut S,
        trainer: impl Fn(&mut S) -> &mut Trainer,
        f: impl FnOnce(&mut S) -> R + Send,
    ) -> R {
        Pool::stay(owner, |o| &mut trainer(o).pool, f)
    }

    /// Ends training, returning the network.
    pub fn into_mlp(self) -> Mlp {
        self.core.mlp
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.core.config
    }

    /// Rows per shard in effect.
    pub fn shard_rows(&self) -> usize {
        self.core.shard_rows
    }

    /// Threads in the trainer's pool.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Whether a step on `rows` rows splits across the pool: more than one
    /// thread, and at least [`TrainConfig::min_parallel_flops`] of work.
    /// (Results are the same either way.)
    pub fn parallel_for(&self, rows: usize) -> bool {
        self.pool.splits(super::flops_per_step(self.core.mlp.sizes(), rows))
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.core.steps
    }

    /// Sets the base learning rate of the next steps (the schedule still
    /// applies to it).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        TrainConfig { lr, ..self.core.config.clone() }.validate()?;
        self.core.config.lr = lr;
        Ok(())
    }

    /// Sets the optimizer's weight decay λ (finite, ≥ 0) for the steps
    /// from the next: scikit-learn's `alpha/Σw` changes with each batch's
    /// weight. An error for an optimizer without weight decay.
    pub fn set_weight_decay(&mut self, weight_decay: f64) -> Result<()> {
        crate::optim::check_decay(weight_decay)?;
        self.core.optimizer.set_weight_decay(weight_decay)
    }

    /// The learning rate the next step will use: the schedule at step
    /// [`steps`](Self::steps) + 1.
    pub fn current_lr(&self) -> f64 {
        self.core.config.schedule.lr(self.core.config.lr, self.core.steps + 1)
    }

    /// The global norm `‖g‖₂` of the last computed gradients (before
    /// clipping).
    pub fn grad_norm(&self) -> f64 {
        self.core.grad_sq.sqrt()
    }

    /// The optimizer's name.
    pub fn optimizer_name(&self) -> &'static str {
        self.core.optimizer.name()
    }

    /// The optimizer's state: its slots (empty where unused), each laid out
    /// like [`Mlp::params`].
    pub fn optimizer_state(&self) -> [&[f32]; 2] {
        [&self.core.slots[0], &self.core.slots[1]]
    }

    /// Restores a saved state (for resuming): parameters, optimizer slots (as
    /// [`optimizer_state`](Self::optimizer_state) gave them) and the number
    /// of steps taken. Lengths must match this trainer's.
    pub fn restore(&mut self, params: &[f32], slots: [&[f32]; 2], steps: u64) -> Result<()> {
        let n = self.core.mlp.params().len();
        if params.len() != n {
            return Err(Error::shape("restored parameters", n, params.len()));
        }
        for (i, (mine, theirs)) in self.core.slots.iter().zip(slots).enumerate() {
            if mine.len() != theirs.len() {
                return Err(Error::shape(format!("restored optimizer slot {i}"), mine.len(), theirs.len()));
            }
        }
        if let Some(i) = params.iter().chain(slots[0]).chain(slots[1]).position(|v| !v.is_finite()) {
            return Err(Error::non_finite(format!("restored state, value {i}")));
        }
        self.core.mlp.params_mut().copy_from_slice(params);
        for (mine, theirs) in self.core.slots.iter_mut().zip(slots) {
            mine.copy_from_slice(theirs);
        }
        self.core.steps = steps;
        Ok(())
    }

    /// Gradient of layer `l` from the last step or
    /// [`compute_gradients`](Self::compute_gradients), laid out like the
    /// layer's parameters.
    pub fn gradient(&self, l: usize) -> Option<LayerRef<'_>> {
        let layer = self.core.mlp.layer(l)?;
        let (w, b) = layer_ranges(self.core.mlp.sizes(), l);
        Some(LayerRef { weight: &self.core.grads[w], bias: &self.core.grads[b], ..layer })
    }

    /// All gradients of the last step (as for [`gradient`](Self::gradient)),
    /// laid out like [`Mlp::params`].
    pub fn gradients(&self) -> &[f32] {
        &self.core.grads
    }

    /// The error of each row of the last step, in batch order (every rank's
    /// rows, on every rank).
    pub fn last_losses(&self) -> impl Iterator<Item = f32> + '_ {
        let o = self.core.mlp.outputs();
        let shared = self.core.reduce.shared_outputs(self.core.rows, o);
        let local = if shared.is_none() { &self.core.shards[..self.core.used] } else { &[] };
        let shared = shared.map_or(&[][..], |(_, l)| l);
        shared.iter().copied().chain(local.iter().flat_map(|sh| sh.loss[..sh.rows.len()].iter().copied()))
    }

    /// The head's outputs `y` of the last step, row by row in batch order
    /// (every rank's rows, on every rank).
    pub fn last_outputs(&self) -> impl Iterator<Item = &[f32]> + '_ {
        let (o, last) = (self.core.mlp.outputs(), self.core.mlp.num_layers() - 1);
        let shared = self.core.reduce.shared_outputs(self.core.rows, o);
        let local = if shared.is_none() { &self.core.shards[..self.core.used] } else { &[] };
        let shared = shared.map_or(&[][..], |(y, _)| y);
        shared.chunks_exact(o).chain(local.iter().flat_map(move |sh| sh.h[last][..sh.rows.len() * o].chunks_exact(o)))
    }
}
