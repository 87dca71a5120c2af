//! The trainer and its step: shards (forward, head, deltas) → weight
//! gradients, summed over shards in order → update.

use super::backward::{
    backward_layer, segment_gradients, segment_squares, tiles_needed, weight_gradients, GradInputs, TileWork, TILE_ROWS,
};
use super::config::TrainConfig;
use super::forward::Ctx;
use super::pool::{Pool, ScratchPool};
use super::reduce::{chain_gradients, loss_sum, share_outputs, shared_norm, ChainParts, SquaredNorm};
use super::shards::{assign_rows, each_shard, Shard};
use super::update::{slot_part, slot_part_mut, update, update_into, Step};
use crate::dist::{owned_shards, Chain, Collective, FinishedWork};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::mem::{vec_of, zeros};
use crate::model::{LayerRef, Mlp};
use crate::optim::{Optimizer, Sgd};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

/// Trains an [`Mlp`] by minibatch backpropagation on its own thread pool.
///
/// A step cuts the batch into shards of `shard_rows` rows; every shard runs
/// forward, head and backward on its own preallocated workspace in parallel;
/// the shards' gradients are summed in shard order into one gradient buffer;
/// then the optimizer updates the parameters. The result does not depend on
/// the thread count, and after the first step at a given batch size a step
/// allocates nothing.
pub struct Trainer {
    mlp: Mlp,
    config: TrainConfig,
    shard_rows: usize,
    optimizer: Box<dyn Optimizer>,
    grads: Vec<f32>,
    slots: [Vec<f32>; 2],
    step: u64,
    shards: Vec<Shard>,
    used: usize,
    tile_work: Vec<TileWork>,
    scratch: ScratchPool,
    /// `Σ g²` of the last computed gradients.
    grad_sq: f64,
    /// Its terms, layer by layer.
    norm: SquaredNorm,
    pool: Pool,
    /// The other ranks of a data-parallel run ([`Trainer::distribute`]).
    comm: Option<Box<dyn Collective>>,
    /// Outputs and row errors on their way between ranks.
    stage: Vec<f32>,
    /// The gradient's segments, as the chain between ranks sends them.
    parts: Option<ChainParts>,
    /// Seconds spent in messages and broadcasts.
    comm_secs: f64,
    /// A distributed step's parameters and slots, made in other memory.
    next: Option<Next>,
}

/// The optimizer's slots for `n` parameters, zero: as many as it uses,
/// the others empty.
fn optimizer_slots(optimizer: &dyn Optimizer, n: usize) -> Result<[Vec<f32>; 2]> {
    let slot = |i: usize| if optimizer.slots() > i { zeros(n, "optimizer state") } else { Ok(Vec::new()) };
    Ok([slot(0)?, slot(1)?])
}

/// What a rank does with each finished part `i` of a distributed step's
/// sum, `g`: its squares noted in `norm`, and the parameters and slots of
/// `now` updated from it, into `next`.
fn apply_finished<'a>(
    next: &'a mut Next,
    (mlp, slots): (&'a Mlp, &'a [Vec<f32>; 2]),
    parts: &'a ChainParts,
    (norm, pool): (&'a RefCell<&'a mut SquaredNorm>, &'a RefCell<&'a mut Pool>),
    s: &'a Step<'a>,
    kernels: Kernels,
) -> impl FnMut(usize, &[f32]) -> Result<()> + 'a {
    move |i, g| {
        let r = &parts.ranges[i];
        segment_squares(g, &parts.segments[i], mlp.sizes(), &kernels, &mut norm.borrow_mut());
        let now = (&mlp.params()[r.clone()], [slot_part(&slots[0], r), slot_part(&slots[1], r)]);
        let [m, v] = &mut next.slots;
        let into = (&mut next.params[r.clone()], [slot_part_mut(m, r), slot_part_mut(v, r)]);
        pool.borrow_mut().run_if(s.par, || update_into(into, now, g, s))
    }
}

/// The gradient's tile workspaces: only the first layer's tiles may read
/// sparse inputs, so only they get room for a tile's inputs as rows.
fn tile_work(sizes: &[usize], shard_rows: usize) -> Result<Vec<TileWork>> {
    let (first, mut t) = (sizes[0].div_ceil(TILE_ROWS), 0);
    vec_of(tiles_needed(sizes), "gradient tiles", || {
        t += 1;
        TileWork::new(if t <= first { shard_rows } else { 0 })
    })
}

/// The parameters and optimizer slots after a distributed step, made part
/// by part as the parts of the summed gradient are finished
/// ([`Collective::chain_then`]), so that each part is applied while it is
/// in cache and while the other ranks still work; they take the place of
/// the trainer's own when the step is applied, and the old ones are the
/// memory of the next step's. (In place, a non-finite gradient found after
/// the first parts would leave the parameters half updated.)
struct Next {
    params: Vec<f32>,
    slots: [Vec<f32>; 2],
    /// Whether the last step made them.
    made: bool,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("sizes", &self.mlp.sizes())
            .field("config", &self.config)
            .field("optimizer", &self.optimizer.name())
            .field("threads", &self.pool.threads())
            .field("ranks", &self.comm.as_ref().map_or(1, |c| c.size()))
            .finish()
    }
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
        let shard_rows = config.effective_shard_rows(mlp.sizes());
        let nshards = config.batch_size.div_ceil(shard_rows);
        let n = mlp.params().len();
        let slots = optimizer_slots(&*optimizer, n)?;
        let shards = vec_of(nshards, "shards", || Shard::new(mlp.sizes(), shard_rows))?;
        Ok(Trainer {
            grads: zeros(n, "gradients")?,
            slots,
            step: 0,
            shards,
            used: 0,
            tile_work: tile_work(mlp.sizes(), shard_rows)?,
            scratch: ScratchPool::new(config.effective_threads())?,
            grad_sq: 0.0,
            norm: SquaredNorm::new(mlp.sizes())?,
            pool: Pool::new(config.effective_threads())?,
            comm: None,
            stage: Vec::new(),
            parts: None,
            comm_secs: 0.0,
            next: None,
            shard_rows,
            optimizer,
            config,
            mlp,
        })
    }

    /// Trains data-parallel with the other ranks of `comm` from now on: each
    /// rank computes its own shards of every batch ([`owned_shards`]) and
    /// the gradients are summed in shard order across the ranks, so that
    /// every rank applies the same update and the weights are bit-identical
    /// to one process's with the same settings, for any number of ranks and
    /// threads. Every rank must be given the same network, settings and
    /// batches, and make the same calls. An error when there are more ranks
    /// than shards in a full batch. The trainer's own buffers are made here;
    /// the communicator may allocate per step (MPI's request list, the
    /// messages of [`Local`](crate::dist::Local)).
    pub fn distribute(&mut self, comm: Box<dyn Collective>) -> Result<()> {
        let (ranks, shards, b) = (comm.size(), self.shards.len(), self.config.batch_size);
        if ranks > shards {
            let msg = format!(
                "{ranks} ranks, but a batch of {b} rows is {shards} shard(s) of {} rows: every rank needs a shard \
                 (shard rows at most {})",
                self.shard_rows,
                b / ranks
            );
            return Err(Error::config("ranks", msg));
        }
        self.stage = zeros(b * (self.mlp.outputs() + 1), "outputs between ranks")?;
        self.parts = Some(ChainParts::new(self.mlp.sizes(), self.mlp.params().len(), ranks)?);
        comm.reserve(self.mlp.params().len())?;
        let n = self.mlp.params().len();
        let (params, slots) = (zeros(n, "parameters")?, optimizer_slots(&*self.optimizer, n)?);
        self.next = Some(Next { params, slots, made: false });
        self.comm = Some(comm);
        Ok(())
    }

    /// The ranks this trainer runs with, when [`distribute`](Self::distribute)d.
    pub fn collective(&self) -> Option<&dyn Collective> {
        self.comm.as_deref()
    }

    /// Seconds this trainer has spent in messages and broadcasts between
    /// ranks (waiting for them included).
    pub fn communication_seconds(&self) -> f64 {
        self.comm_secs
    }

    /// The network being trained.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
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
        self.mlp.params_mut()
    }

    /// Runs `f` with this trainer on a thread of its pool, so that the
    /// steps `f` takes there hand nothing over to the pool and back, and
    /// the pool's other threads look for work, spinning, instead of
    /// sleeping between the steps' parallel parts (for up to a millisecond
    /// at a time without any): for a loop of many steps (an epoch), where
    /// a step is small.
    /// Everything `f` does runs on that thread; the results are the same
    /// as outside. With one thread, or inside `within` already, `f` simply
    /// runs here. A panic in `f` resumes here, with the trainer whole.
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
        Trainer::within_of(self, |t| t, f)
    }

    /// [`within`](Self::within) for a trainer that `owner` holds
    /// (`trainer(owner)`), when the loop needs the rest of the owner too:
    /// `f` gets the owner.
    pub fn within_of<S: Send + ?Sized, R: Send>(
        owner: &mut S,
        trainer: impl Fn(&mut S) -> &mut Trainer,
        f: impl FnOnce(&mut S) -> R + Send,
    ) -> R {
        let Some(stand_in) = trainer(owner).pool.stand_in() else {
            return f(owner);
        };
        let mut pool = std::mem::replace(&mut trainer(owner).pool, stand_in);
        let out = panic::catch_unwind(AssertUnwindSafe(|| pool.run(|| crate::par::keep_awake(|| f(&mut *owner)))));
        trainer(owner).pool = pool;
        out.unwrap_or_else(|p| panic::resume_unwind(p))
    }

    /// Ends training, returning the network.
    pub fn into_mlp(self) -> Mlp {
        self.mlp
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Rows per shard in effect.
    pub fn shard_rows(&self) -> usize {
        self.shard_rows
    }

    /// Threads in the trainer's pool.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Sets the base learning rate of the next steps (the schedule still
    /// applies to it).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        TrainConfig { lr, ..self.config.clone() }.validate()?;
        self.config.lr = lr;
        Ok(())
    }

    /// The learning rate the next step will use: the schedule at step
    /// [`steps`](Self::steps) + 1.
    pub fn current_lr(&self) -> f64 {
        self.config.schedule.lr(self.config.lr, self.step + 1)
    }

    /// The global norm `‖g‖₂` of the last computed gradients (before
    /// clipping).
    pub fn grad_norm(&self) -> f64 {
        self.grad_sq.sqrt()
    }

    /// The optimizer's name.
    pub fn optimizer_name(&self) -> &'static str {
        self.optimizer.name()
    }

    /// The optimizer's state: its slots (empty where unused), each laid out
    /// like [`Mlp::params`].
    pub fn optimizer_state(&self) -> [&[f32]; 2] {
        [&self.slots[0], &self.slots[1]]
    }

    /// Restores a saved state (for resuming): parameters, optimizer slots (as
    /// [`optimizer_state`](Self::optimizer_state) gave them) and the number
    /// of steps taken. Lengths must match this trainer's.
    pub fn restore(&mut self, params: &[f32], slots: [&[f32]; 2], steps: u64) -> Result<()> {
        let n = self.mlp.params().len();
        if params.len() != n {
            return Err(Error::shape("restored parameters", n, params.len()));
        }
        for (i, (mine, theirs)) in self.slots.iter().zip(slots).enumerate() {
            if mine.len() != theirs.len() {
                return Err(Error::shape(format!("restored optimizer slot {i}"), mine.len(), theirs.len()));
            }
        }
        if let Some(i) = params.iter().chain(slots[0]).chain(slots[1]).position(|v| !v.is_finite()) {
            return Err(Error::non_finite(format!("restored state, value {i}")));
        }
        self.mlp.params_mut().copy_from_slice(params);
        for (mine, theirs) in self.slots.iter_mut().zip(slots) {
            mine.copy_from_slice(theirs);
        }
        self.step = steps;
        Ok(())
    }

    /// One step on `rows` rows: `x` is rows × inputs, `t` rows × outputs
    /// (one-hot rows for softmax). Returns the batch's mean error before the
    /// update. A non-finite error leaves the parameters untouched.
    ///
    /// A distributed step without `clip_norm` applies each part of the
    /// summed gradient as soon as the rank has it, and keeps no copy of the
    /// gradient: [`gradients`](Self::gradients) then holds none of this
    /// step ([`compute_gradients`](Self::compute_gradients) and
    /// [`apply_gradients`](Self::apply_gradients) make the same step with
    /// one).
    pub fn step(&mut self, x: &[f32], t: &[f32], rows: usize) -> Result<f32> {
        let loss = self.gradients_of(x, t, rows, true)?;
        self.apply_gradients()?;
        Ok(loss)
    }

    /// The forward and backward passes without the update: afterwards
    /// [`gradient`](Self::gradient) holds `∂(mean E)/∂θ` for this batch.
    /// Returns the batch's mean error.
    pub fn compute_gradients(&mut self, x: &[f32], t: &[f32], rows: usize) -> Result<f32> {
        self.gradients_of(x, t, rows, false)
    }

    /// [`compute_gradients`](Self::compute_gradients); with `then_update`,
    /// a distributed step also makes its update as the gradient's parts are
    /// finished (into [`Next`]).
    fn gradients_of(&mut self, x: &[f32], t: &[f32], rows: usize, then_update: bool) -> Result<f32> {
        if let Some(next) = self.next.as_mut() {
            next.made = false;
        }
        self.check_batch(x, t, rows)?;
        self.used = assign_rows(&mut self.shards, rows, self.shard_rows);
        if self.comm.is_some() {
            return self.distributed_gradients(x, t, rows, then_update && self.config.clip_norm.is_none());
        }
        let kernels = Kernels::active();
        let par = self.parallel_for(rows);
        let (mlp, used) = (&self.mlp, self.used);
        let (shards, grads, tile_work) = (&mut self.shards[..used], &mut self.grads, &mut self.tile_work);
        let norm = &mut self.norm;
        let (threads, scratch) = (if par { self.pool.threads() } else { 1 }, &self.scratch);
        let (sum, grad_sq) = self.pool.run_if(par, || -> Result<(f64, f64)> {
            let ctx = Ctx { kernels, scratch, threads };
            let scale = 1.0 / rows as f32;
            each_shard(shards, par, |sh| sh.pass(mlp, x, t, scale, &ctx))?;
            let sum = loss_sum(shards);
            if !sum.is_finite() {
                return Ok((sum, f64::NAN));
            }
            let inp = GradInputs { shards, x, mlp, kernels: &kernels, par };
            Ok((sum, weight_gradients(grads, &inp, tile_work, norm)?))
        })?;
        self.finish_gradients(sum, grad_sq, rows)
    }

    /// The step's mean loss, once the gradients and their norm are known.
    fn finish_gradients(&mut self, sum: f64, grad_sq: f64, rows: usize) -> Result<f32> {
        self.grad_sq = grad_sq;
        let loss = (sum / rows as f64) as f32;
        if !loss.is_finite() {
            return Err(Error::non_finite(format!("the loss (step {})", self.step + 1)));
        }
        Ok(loss)
    }

    /// [`compute_gradients`](Self::compute_gradients) on this rank's shards,
    /// the gradients summed across the ranks, the outputs shared. Backward
    /// runs a layer at a time between the layers' gradients, last layer
    /// first, so that a layer's gradient is on its way to the next rank
    /// while the deltas of the layer below are computed.
    fn distributed_gradients(&mut self, x: &[f32], t: &[f32], rows: usize, then_update: bool) -> Result<f32> {
        let (lr, step, update_par) = (self.current_lr(), self.step + 1, self.parallel_for(self.config.batch_size));
        let Trainer { comm, shards, mlp, pool, scratch, grads, tile_work, norm, parts, comm_secs, used, .. } = self;
        let (next, slots, optimizer) = (&mut self.next, &self.slots, &*self.optimizer);
        let comm = comm.as_deref().expect("distributed");
        let (kernels, (ranks, rank)) = (Kernels::active(), (comm.size(), comm.rank()));
        let (own, chain) = (owned_shards(*used, ranks, rank), Chain::of(*used, ranks, rank));
        let parts = parts.as_ref().expect("distributed");
        let pairing = parts.pairing(false);
        let mine: usize = shards[own.clone()].iter().map(|sh| sh.rows.len()).sum();
        let par = pool.parallel() && super::flops_per_step(mlp.sizes(), mine) >= self.config.min_parallel_flops;
        let threads = if par { pool.threads() } else { 1 };
        let (mlp, scratch, mine) = (&*mlp, &*scratch, &mut shards[own]);
        pool.run_if(par, || {
            let ctx = Ctx { kernels, scratch, threads };
            each_shard(mine, par, |sh| sh.forward_head(mlp, x, t, 1.0 / rows as f32, &ctx))
        })?;
        norm.clear();
        let (pool, norm) = (&RefCell::new(pool), &RefCell::new(norm));
        let s = &Step { opt: optimizer, lr, step, scale: 1.0, par: update_par };
        let next = next.as_mut().filter(|_| then_update);
        let made = next.is_some();
        let mut apply = next.map(|next| apply_finished(next, (mlp, slots), parts, (norm, pool), s, kernels));
        let then = apply.as_mut().map(|t| t as &mut FinishedWork<'_>);
        // The lowest layer whose deltas are made: a rank's first segment of
        // a layer (not always its first tiles) makes them.
        let below = Cell::new(mlp.num_layers());
        chain_gradients(comm, (chain, pairing), parts, grads, then, comm_secs, &mut |seg, g| {
            let (mine, tile_work) = (&mut *mine, &mut *tile_work);
            let ctx = Ctx { kernels, scratch, threads };
            match g {
                // Before the layer's first segment arrives: its deltas.
                None if seg.layer < below.get() => {
                    let layers = seg.layer..below.replace(seg.layer);
                    pool.borrow_mut().run_if(par, || {
                        layers.rev().try_for_each(|l| each_shard(mine, par, |sh| backward_layer(sh, mlp, l, &ctx)))
                    })
                }
                None => Ok(()),
                Some((g, onto)) => {
                    // With a `then`, the finished parts' squares come there.
                    let mut norm = norm.borrow_mut();
                    let norm = if made { None } else { Some(&mut **norm) };
                    let inp = GradInputs { shards: mine, x, mlp, kernels: &kernels, par };
                    pool.borrow_mut().run_if(par, || segment_gradients(g, seg, onto, &inp, tile_work, norm))
                }
            }
        })?;
        drop(apply);
        let total = norm.borrow().total();
        let grad_sq = if made { total } else { shared_norm(comm, chain, total)? };
        let t0 = Instant::now();
        share_outputs(comm, &mut shards[..*used], (mlp.outputs(), mlp.num_layers() - 1), &mut self.stage)?;
        *comm_secs += t0.elapsed().as_secs_f64();
        let sum = loss_sum(&shards[..*used]);
        if let Some(next) = self.next.as_mut() {
            next.made = made;
        }
        self.finish_gradients(sum, if sum.is_finite() { grad_sq } else { f64::NAN }, rows)
    }

    /// Whether a step on `rows` rows runs on the pool: there is more than
    /// one thread and the step has at least
    /// [`TrainConfig::min_parallel_flops`] of work. (Results are the same
    /// either way.)
    pub fn parallel_for(&self, rows: usize) -> bool {
        self.pool.parallel() && super::flops_per_step(self.mlp.sizes(), rows) >= self.config.min_parallel_flops
    }

    fn check_batch(&self, x: &[f32], t: &[f32], rows: usize) -> Result<()> {
        if rows == 0 || rows > self.config.batch_size {
            return Err(Error::shape("batch rows", format!("1..={}", self.config.batch_size), rows));
        }
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        if x.len() != rows * i {
            return Err(Error::shape("inputs", format!("{rows} rows × {i} = {} values", rows * i), x.len()));
        }
        if t.len() != rows * o {
            return Err(Error::shape("targets", format!("{rows} rows × {o} = {} values", rows * o), t.len()));
        }
        Ok(())
    }

    /// Applies the optimizer to the gradients of the last
    /// [`compute_gradients`](Self::compute_gradients), at the scheduled rate,
    /// clipped when the config says so. A non-finite gradient is an error and
    /// leaves the parameters untouched.
    pub fn apply_gradients(&mut self) -> Result<()> {
        if !self.grad_sq.is_finite() {
            return Err(Error::non_finite(format!("the gradients (step {})", self.step + 1)));
        }
        if let Some(next) = self.next.as_mut().filter(|n| n.made) {
            // The step is made: it takes the place of the parameters.
            next.made = false;
            self.step += 1;
            self.mlp.swap_params(&mut next.params);
            std::mem::swap(&mut self.slots, &mut next.slots);
            return Ok(());
        }
        let norm = self.grad_sq.sqrt();
        // PyTorch's clip_grad_norm_: scale by max/(norm + 1e-6), never above 1.
        let scale = self.config.clip_norm.map_or(1.0, |c| (c / (norm + 1e-6)).min(1.0)) as f32;
        let lr = self.current_lr();
        self.step += 1;
        let par = self.parallel_for(self.config.batch_size);
        let s = Step { opt: &*self.optimizer, lr, step: self.step, scale, par };
        let (params, grads, slots) = (self.mlp.params_mut(), &self.grads, &mut self.slots);
        self.pool.run_if(par, || update(params, grads, slots, &s))
    }

    /// Gradient of layer `l` from the last
    /// [`compute_gradients`](Self::compute_gradients) (or step, but for a
    /// distributed one without `clip_norm`: see [`step`](Self::step)), laid
    /// out like the layer's parameters.
    pub fn gradient(&self, l: usize) -> Option<LayerRef<'_>> {
        let layer = self.mlp.layer(l)?;
        let (w, b) = crate::model::layer_ranges(self.mlp.sizes(), l);
        Some(LayerRef { weight: &self.grads[w], bias: &self.grads[b], ..layer })
    }

    /// All gradients of the last step (as for [`gradient`](Self::gradient)),
    /// laid out like [`Mlp::params`].
    pub fn gradients(&self) -> &[f32] {
        &self.grads
    }

    /// The error of each row of the last step, in batch order.
    pub fn last_losses(&self) -> impl Iterator<Item = f32> + '_ {
        self.shards[..self.used].iter().flat_map(|sh| sh.loss[..sh.rows.len()].iter().copied())
    }

    /// The head's outputs `y` of the last step, row by row in batch order.
    pub fn last_outputs(&self) -> impl Iterator<Item = &[f32]> + '_ {
        let o = self.mlp.outputs();
        let last = self.mlp.num_layers() - 1;
        self.shards[..self.used].iter().flat_map(move |sh| sh.h[last][..sh.rows.len() * o].chunks_exact(o))
    }
}
