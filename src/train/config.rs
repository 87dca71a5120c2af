//! Training settings and how a batch is cut into shards.

use crate::error::{Error, Result};
use crate::optim::Schedule;

/// Settings of a [`Trainer`](super::Trainer). `Default` gives the values the
/// command line uses when no flag is given.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Rows per minibatch (the most a step accepts). Default 64.
    pub batch_size: usize,
    /// Rows per shard: each shard runs forward and backward on its own
    /// workspace, in parallel. `0` (the default) chooses from the batch size
    /// and the hidden widths ([`auto_shard_rows`]); never from the thread
    /// count, so results do not depend on it.
    pub shard_rows: usize,
    /// Threads of the trainer's own pool; `0` (the default) means every core.
    pub threads: usize,
    /// Base learning rate. Default 1.0 (for plain SGD), which takes the
    /// default 784-128-10 sigmoid network to about 94% on the bundled digits
    /// in 10 epochs.
    pub lr: f64,
    /// How the rate moves over the steps (default constant).
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (PyTorch's
    /// `clip_grad_norm_`: the gradients are scaled by
    /// `clip / (‖g‖ + 1e-6)` when that is below 1). Default none.
    pub clip_norm: Option<f64>,
    /// Steps of fewer floating-point operations than this run on the calling
    /// thread, pool or not: handing work to the pool costs a fixed time
    /// (tens of microseconds), so below about a third of a millisecond of
    /// one core's work a second thread gives less than it costs. Results are
    /// the same either way. Default [`default_min_parallel_flops`]; 0 sends
    /// every step to the pool.
    pub min_parallel_flops: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 64,
            shard_rows: 0,
            threads: 0,
            lr: 1.0,
            schedule: Schedule::default(),
            clip_norm: None,
            min_parallel_flops: default_min_parallel_flops(),
        }
    }
}

/// [`TrainConfig::min_parallel_flops`] by default: 20 MFLOP, where a step
/// gains from a second thread once the steps run inside the pool
/// ([`Trainer::within`](crate::Trainer::within): no hand-over a step).
/// `backprop bench` (which steps inside the pool), ms a step on the Xeon,
/// one thread against two, 3 alternating rounds:
/// - 784-64-10 at batch 64 and 784-128-10 at 32 (13 MFLOP): 0.147 against
///   0.146, 0.155 against 0.163: no gain.
/// - 784-128-10 at batch 64 (config S, 26 MFLOP): 0.27 against 0.25.
/// - 784-256-10 at batch 64 (51 MFLOP): 0.52 against 0.38.
/// - 784-100-10 at batch 200 (64 MFLOP, scikit-learn's default network,
///   just under the 64 MFLOP this was before): 0.74 against 0.43.
///
/// On Zen 3's AVX2 path 20 MFLOP was the break-even with a hand-over a
/// step already (784-128-10 at batch 32: 0.40 ms against 0.33).
pub fn default_min_parallel_flops() -> f64 {
    20e6
}

/// The shard size chosen for a batch of `batch` rows through hidden layers
/// of the widths `hidden`: the whole batch up to 512 rows, else shards of
/// 512, except that a batch of at least 192 rows through hidden layers no
/// wider than 512 is cut in two halves (shards of at least 96 rows).
///
/// A shard's rows are the M of its GEMMs, and each shard reads and packs
/// every weight once: below about 128 rows the GEMMs lose efficiency, and
/// inside a shard the layers' columns are split across threads anyway, so
/// wide layers gain nothing from a batch cut small. Measured on the L config
/// (784-1024-1024-10, batch 256; best step of three runs each, weights then
/// packed once per step): shards of 64 / 128 / 256 rows gave 94 / 95 / 105
/// GFLOP/s on one thread and 147 / 164 / 173 on two. Since the GEMM packs
/// the weights per shard, XL (batch 512) is also faster as one shard than as
/// two of 256 (two threads, best step of three runs: 429-449 ms against
/// 460-498).
///
/// Narrow layers split into few column blocks (a 128-wide layer is one
/// block), so one shard leaves a thread idle or waiting at every layer;
/// two shards give each thread a whole pass. scikit-learn's default
/// network with `hidden_layer_sizes=(256, 128)` (batch 200, Adam, 20
/// epochs over the 8,000 digits, two threads), fitted alternately 6 times
/// each: median 1.70 s as one shard, 1.49 s as two of 100 rows;
/// `backprop bench` at 784-512-512-10 batch 256, two threads: 137 → 142
/// and 101 → 115 GFLOP/s as two shards of 128.
///
/// The choice depends on the batch and the widths only, never on the
/// thread count, so results do not depend on it.
pub fn auto_shard_rows(batch: usize, hidden: &[usize]) -> usize {
    let narrow = hidden.iter().all(|&w| w <= 512);
    if narrow && (192..=1024).contains(&batch) {
        batch.div_ceil(2)
    } else {
        batch.clamp(1, 512)
    }
}

impl TrainConfig {
    /// The largest batch a trainer accepts (rows per step).
    pub const MAX_BATCH_SIZE: usize = 1 << 20;
    /// The most threads a trainer's pool may have.
    pub const MAX_THREADS: usize = 1024;

    /// Checks every setting, naming the first that is out of its domain.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.batch_size > Self::MAX_BATCH_SIZE {
            let msg = format!("must be between 1 and {}, got {}", Self::MAX_BATCH_SIZE, self.batch_size);
            return Err(Error::config("batch size", msg));
        }
        if self.threads > Self::MAX_THREADS {
            let msg = format!("must be at most {} (0: every core), got {}", Self::MAX_THREADS, self.threads);
            return Err(Error::config("threads", msg));
        }
        if !self.lr.is_finite() || self.lr < 0.0 {
            return Err(Error::config("learning rate", format!("must be finite and ≥ 0, got {}", self.lr)));
        }
        if self.min_parallel_flops.is_nan() || self.min_parallel_flops < 0.0 {
            return Err(Error::config("min_parallel_flops", format!("must be ≥ 0, got {}", self.min_parallel_flops)));
        }
        if let Some(c) = self.clip_norm.filter(|c| !c.is_finite() || *c <= 0.0) {
            return Err(Error::config("clip norm", format!("must be finite and > 0, got {c}")));
        }
        self.schedule.validate()
    }

    /// The shard size in effect for a network of layer sizes `sizes`:
    /// `shard_rows`, or [`auto_shard_rows`] when 0, never more than the
    /// batch.
    pub fn effective_shard_rows(&self, sizes: &[usize]) -> usize {
        match self.shard_rows {
            0 => auto_shard_rows(self.batch_size, sizes.get(1..sizes.len().saturating_sub(1)).unwrap_or(&[])),
            s => s.min(self.batch_size),
        }
    }

    /// The thread count in effect: `threads`, or the number of cores when 0
    /// (at most [`MAX_THREADS`](Self::MAX_THREADS)).
    pub fn effective_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
        .min(Self::MAX_THREADS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_shards_depend_on_the_batch_and_widths_only() {
        let wide = [1024, 1024];
        assert_eq!(auto_shard_rows(1, &wide), 1);
        assert_eq!(auto_shard_rows(64, &wide), 64);
        assert_eq!(auto_shard_rows(256, &wide), 256);
        assert_eq!(auto_shard_rows(512, &wide), 512);
        assert_eq!(auto_shard_rows(1000, &wide), 512);
        let narrow = [256, 128];
        assert_eq!(auto_shard_rows(128, &narrow), 128);
        assert_eq!(auto_shard_rows(191, &narrow), 191);
        assert_eq!(auto_shard_rows(192, &narrow), 96);
        assert_eq!(auto_shard_rows(200, &narrow), 100);
        assert_eq!(auto_shard_rows(201, &narrow), 101);
        assert_eq!(auto_shard_rows(1024, &narrow), 512);
        assert_eq!(auto_shard_rows(2000, &narrow), 512);
        assert_eq!(auto_shard_rows(200, &[512]), 100);
        assert_eq!(auto_shard_rows(200, &[513]), 200);
        assert_eq!(auto_shard_rows(200, &[]), 100);
    }

    #[test]
    fn the_config_cuts_by_the_hidden_widths() {
        let c = TrainConfig { batch_size: 200, ..TrainConfig::default() };
        assert_eq!(c.effective_shard_rows(&[784, 256, 128, 10]), 100);
        assert_eq!(c.effective_shard_rows(&[784, 1024, 10]), 200);
        assert_eq!(c.effective_shard_rows(&[784, 10]), 100);
        let c = TrainConfig { shard_rows: 7, ..c };
        assert_eq!(c.effective_shard_rows(&[784, 1024, 10]), 7);
    }
}
