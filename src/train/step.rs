//! One step, top to bottom (`Core::step`):
//!
//! ```text
//! pack W and Wᵀ once ─▶ shards side by side: gather rows, forward, head (y, E, δ_L), δ down the layers
//!   ─▶ gradient: one chain over the batch's rows, segment by segment (reduce: here, or along the ranks)
//!   ─▶ outputs shared (ranks) ─▶ update (the optimizer, in chunks)
//! ```

use super::gradient::{add_terms, TermWork, Terms};
use super::shard::{assign_rows, Batch, PassSettings};
use super::trainer::{Core, Trainer};
use super::update::{update, Step};
use crate::error::{Error, Result};
use crate::exec::Team;
use crate::kernels::gemm::Mode;
use crate::kernels::Kernels;
use crate::net::Net;
use crate::optim::UpdateStep;

impl Trainer {
    /// One step on `rows` rows: `x` is rows × inputs, `t` rows × outputs
    /// (one-hot rows for softmax). Returns the batch's mean error before the
    /// update. A non-finite error or gradient leaves the parameters
    /// untouched.
    pub fn step(&mut self, x: &[f32], t: &[f32], rows: usize) -> Result<f32> {
        let batch = self.core.told(self.core.rows(x, t, rows))?;
        self.run(batch, true)
    }

    /// [`step`](Self::step) with a weight for each row (`w`, `rows`
    /// values, each finite and ≥ 0): the objective is the weighted mean
    /// `Σ w·E / Σ w`, so each row's δ is `w·(y - t)/Σ w` (scikit-learn's
    /// `sample_weight`). Weights of 1 give the bits of `step`; a whole
    /// number `k` is the row repeated `k` times up to the order of the
    /// sums. Returns the weighted mean error. A batch whose weights sum to
    /// 0 leaves the parameters and the step count as they are and returns
    /// 0.
    pub fn step_weighted(&mut self, x: &[f32], t: &[f32], w: &[f32], rows: usize) -> Result<f32> {
        let batch = self.core.rows(x, t, rows).and_then(|b| b.weighted(w, rows));
        let batch = self.core.told(batch)?;
        self.run(batch, true)
    }

    /// One step on rows `idx` of a table of inputs `x` (n × inputs) and
    /// targets `t` (n × outputs), each shard gathering its own rows: the
    /// step [`step`](Self::step) takes on those rows copied one after
    /// another, without the copy.
    pub fn step_rows(&mut self, x: &[f32], t: &[f32], idx: &[usize]) -> Result<f32> {
        let batch = self.core.told(self.core.picked(x, t, idx))?;
        self.run(batch, true)
    }

    /// [`step_rows`](Self::step_rows) with the table's row weights `w` (one
    /// per row of the table): the step [`step_weighted`](Self::step_weighted)
    /// takes on rows `idx`.
    pub fn step_rows_weighted(&mut self, x: &[f32], t: &[f32], w: &[f32], idx: &[usize]) -> Result<f32> {
        let batch = self.core.picked(x, t, idx).and_then(|b| b.weighted(w, t.len() / b.outputs.max(1)));
        let batch = self.core.told(batch)?;
        self.run(batch, true)
    }

    /// The forward and backward passes without the update: afterwards
    /// [`gradient`](Self::gradient) holds `∂(mean E)/∂θ` for this batch.
    /// Returns the batch's mean error.
    pub fn compute_gradients(&mut self, x: &[f32], t: &[f32], rows: usize) -> Result<f32> {
        let batch = self.core.told(self.core.rows(x, t, rows))?;
        self.run(batch, false)
    }

    /// Applies the optimizer to the gradients of the last
    /// [`compute_gradients`](Self::compute_gradients), at the scheduled rate,
    /// clipped when the config says so. A non-finite gradient is an error and
    /// leaves the parameters untouched.
    pub fn apply_gradients(&mut self) -> Result<()> {
        let Trainer { core, pool } = self;
        core.check_gradients()?;
        let flops = super::flops_per_step(core.mlp.sizes(), core.config.batch_size);
        pool.run(flops, |team| core.update(team))
    }

    /// The step on this process's rows of `batch`, on the pool; with
    /// `apply`, the update too. Returns the batch's (weighted) mean error.
    fn run(&mut self, batch: Batch<'_>, apply: bool) -> Result<f32> {
        let Trainer { core, pool } = self;
        let rows = batch.rows();
        let own = core.reduce.own_rows(rows);
        (core.used, core.rows) = (assign_rows(&mut core.shards, own.clone(), core.shard_rows), rows);
        let flops = super::flops_per_step(core.mlp.sizes(), own.len());
        let loss = pool.run(flops, |team| core.step(batch, apply, team));
        let loss = core.told(loss)? as f32;
        if !loss.is_finite() {
            return Err(Error::non_finite(format!("the loss (step {})", core.steps + 1)));
        }
        if apply && !core.grad_sq.is_finite() {
            return core.check_gradients().map(|_| loss);
        }
        Ok(loss)
    }
}

impl Core {
    /// The step on `team`; returns the batch's weighted mean error
    /// `Σ w·E / Σ w` (0 when the weights sum to 0). Updates the parameters
    /// when `apply`, the weights do not sum to 0 and both the loss and the
    /// gradient are finite.
    fn step(&mut self, batch: Batch<'_>, apply: bool, team: Team<'_>) -> Result<f64> {
        let kernels = Kernels::active();
        let sizes = self.mlp.sizes();
        let (rows, outputs) = (batch.rows(), self.mlp.outputs());
        // The weights packed ahead when several shards read them; one shard
        // packs each block as its GEMMs reach it.
        let ahead = self.used > 1;
        if ahead {
            self.packed.pack(sizes, self.mlp.params(), team)?;
        }
        let (params, packed) = (self.mlp.params(), ahead.then_some(&self.packed));
        let mode = Mode::of(self.config.precision);
        let net = Net { sizes, activation: self.mlp.activation(), params, packed, kernels, mode };
        // The shards side by side: rows gathered, forward, head, deltas.
        let weight = batch.total_weight();
        let scale = if weight > 0.0 { 1.0 / weight as f32 } else { 0.0 };
        let s = PassSettings { head: self.mlp.head(), scale, sparse: batch.sparse(&kernels) };
        let shards = &mut self.shards[..self.used];
        let share = team.share(shards.len());
        team.try_for_each(&mut *shards, |sh| sh.pass(&batch, &net, s, share))?;
        // The gradient: one chain over the batch's rows, here or along the ranks.
        let terms = Terms { shards, batch, sizes, sparse: s.sparse, kernels };
        let tiles = &mut self.tiles;
        self.grad_sq = self.reduce.gradient(rows, &mut self.grads, &mut |sum, norm| {
            add_terms(sum, &terms, TermWork { tiles: &mut *tiles, norm, team })
        })?;
        // Every row's outputs and errors, on every rank.
        self.reduce.share_outputs(shards, rows, outputs)?;
        let loss = match self.reduce.shared_outputs(rows, outputs) {
            Some((_, losses)) => batch.weighted_sum(losses.iter().copied()),
            None => batch.weighted_sum(shards.iter().flat_map(|sh| sh.loss[..sh.rows.len()].iter().copied())),
        };
        if apply && weight > 0.0 && loss.is_finite() && self.grad_sq.is_finite() {
            self.update(team)?;
        }
        Ok(if weight > 0.0 { loss / weight } else { 0.0 })
    }

    /// The optimizer's update from the gradients, at the scheduled rate,
    /// clipped when the config says so (PyTorch's `clip_grad_norm_`: scale
    /// by `max/(‖g‖ + 1e-6)`, never above 1), in chunks across `team`.
    pub(super) fn update(&mut self, team: Team<'_>) -> Result<()> {
        let norm = self.grad_sq.sqrt();
        let grad_scale = self.config.clip_norm.map_or(1.0, |c| (c / (norm + 1e-6)).min(1.0)) as f32;
        let step = self.steps + 1;
        let at = UpdateStep { lr: self.config.schedule.lr(self.config.lr, step), step, grad_scale };
        let s = Step { opt: &*self.optimizer, at, grads: &self.grads };
        update(self.mlp.params_mut(), &mut self.slots, &s, team)?;
        self.steps = step;
        Ok(())
    }

    /// `r`; an error the other ranks are told of (this rank failing where
    /// they may not, their waits on it end with an error naming it).
    fn told<T>(&self, r: Result<T>) -> Result<T> {
        r.inspect_err(|e| self.reduce.abort(&e.to_string()))
    }

    /// An error when the last gradients are not finite.
    pub(super) fn check_gradients(&self) -> Result<()> {
        if self.grad_sq.is_finite() {
            return Ok(());
        }
        Err(Error::non_finite(format!("the gradients (step {})", self.steps + 1)))
    }

    /// A batch of `rows` rows lying one after another in `x` and `t`.
    fn rows<'a>(&self, x: &'a [f32], t: &'a [f32], rows: usize) -> Result<Batch<'a>> {
        self.check_count(rows)?;
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        if x.len() != rows * i {
            return Err(Error::shape("inputs", format!("{rows} rows × {i} = {} values", rows * i), x.len()));
        }
        if t.len() != rows * o {
            return Err(Error::shape("targets", format!("{rows} rows × {o} = {} values", rows * o), t.len()));
        }
        Ok(Batch { x, t, w: None, idx: None, inputs: i, outputs: o })
    }

    /// An error unless `rows` is between 1 and the batch size.
    fn check_count(&self, rows: usize) -> Result<()> {
        if rows == 0 || rows > self.config.batch_size {
            return Err(Error::shape("batch rows", format!("1..={}", self.config.batch_size), rows));
        }
        Ok(())
    }

    /// A batch of rows `idx` of a table of inputs `x` and targets `t`.
    fn picked<'a>(&self, x: &'a [f32], t: &'a [f32], idx: &'a [usize]) -> Result<Batch<'a>> {
        let (i, o) = (self.mlp.inputs(), self.mlp.outputs());
        let n = x.len() / i;
        if x.len() != n * i || t.len() != n * o {
            let want = format!("{n} rows × ({i} inputs, {o} targets)");
            return Err(Error::shape("table", want, format!("{} inputs, {} targets", x.len(), t.len())));
        }
        self.check_count(idx.len())?;
        if let Some(&r) = idx.iter().find(|&&r| r >= n) {
            return Err(Error::shape("batch row index", format!("below {n}"), r));
        }
        Ok(Batch { x, t, w: None, idx: Some(idx), inputs: i, outputs: o })
    }
}

impl<'a> Batch<'a> {
    /// The batch with row weights `w`, which must hold `n` values (the
    /// batch's rows, or its table's); the batch's own must be finite and
    /// not negative.
    fn weighted(self, w: &'a [f32], n: usize) -> Result<Batch<'a>> {
        if w.len() != n {
            return Err(Error::shape("row weights", format!("{n} values, one a row"), w.len()));
        }
        let batch = Batch { w: Some(w), ..self };
        let bad = (0..batch.rows()).map(|r| (r, batch.weight(r))).find(|(_, v)| !(v.is_finite() && *v >= 0.0));
        match bad {
            None => Ok(batch),
            Some((r, v)) => {
                let at = batch.idx.map_or(r, |idx| idx[r]);
                Err(Error::config("row weights", format!("row {at} has weight {v}; weights must be finite and ≥ 0")))
            }
        }
    }
}
