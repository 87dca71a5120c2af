//! Training settings and how a batch is cut into shards.

use crate::error::{Error, Result};
use crate::kernels::gemm::{Mode, Precision};
use crate::optim::Schedule;

/// Settings of a [`Trainer`](super::Trainer). `Default` gives the values the
/// command line uses when no flag is given.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Rows per minibatch (the most a step accepts). Default 64.
    pub batch_size: usize,
    /// Rows per shard: each shard runs forward and backward on its own
    /// workspace, side by side. `0` (the default) chooses from the batch
    /// size, the hidden widths and the threads ([`auto_shard_rows`]). A
    /// speed setting only: the results are the same for any cut.
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
    /// the same either way. Default
    /// [`default_min_parallel_flops`](crate::train::default_min_parallel_flops);
    /// 0 sends every step to the pool.
    pub min_parallel_flops: f64,
    /// The precision of the products' operands (default f32): in bf16 the
    /// operands of the three products of every layer (`h·W`, `δ·Wᵀ`,
    /// `hᵀ·δ`) are rounded to bf16 as they are packed and the products sum
    /// in f32 (PyTorch's `autocast` recipe); the parameters, optimizer
    /// state, activations, head, loss and updates stay f32. A first layer
    /// whose inputs are mostly zeros keeps its f32 sparse products in
    /// either precision.
    pub precision: Precision,
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
            min_parallel_flops: crate::exec::default_min_parallel_flops(),
            precision: Precision::Fp32,
        }
    }
}

/// The shard size chosen for a batch of `batch` rows through hidden layers
/// of the widths `hidden` on `threads` threads:
/// - layers no wider than 256: one shard a thread, of at least 32 rows, so
///   that each thread runs whole passes (a narrow layer is too few columns
///   to split); the shards share the weights, packed once;
/// - wider layers: the whole batch up to 512 rows, else shards of 512; the
///   threads split each layer's columns, and each packs the blocks of `W`
///   its columns need, once;
/// - the `matrixmultiply` comparison path: one shard, since its sums depend
///   on where the rows are cut.
///
/// Measured on a 2-core Zen 4, two threads, samples/s, 3 rounds: 784-100-10
/// at batch 200, 385k as two shards against 348k as one; 784-512-512-10 at
/// 128, 48-49k against 52-53k; 784-1024-1024-10 at 256, 16.4-16.7k against
/// 17.1-18.0k; 1024-4096-4096-1024 at 512, 1163-1240 against 1281-1310.
///
/// A speed setting only: the gradient of every row is summed in one order
/// whatever the cut, so the results do not depend on it.
pub fn auto_shard_rows(batch: usize, hidden: &[usize], threads: usize) -> usize {
    let batch = batch.max(1);
    if crate::kernels::gemm::gemm_path() == crate::kernels::gemm::GemmPath::MatrixMultiply {
        return batch;
    }
    if hidden.iter().all(|&w| w <= 256) {
        batch.div_ceil((batch / 32).clamp(1, threads.max(1)))
    } else {
        batch.min(512)
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
        if !Mode::of(self.precision).is_supported() {
            let msg = format!(
                "the {} GEMM path has no {} form: unset BACKPROP_GEMM",
                Mode::of(self.precision).path,
                self.precision
            );
            return Err(Error::config("precision", msg));
        }
        self.schedule.validate()
    }

    /// The shard size in effect for batches of up to `batch` rows through
    /// a network of layer sizes `sizes`: `shard_rows`, or
    /// [`auto_shard_rows`] when 0, never more than the batch; in bf16
    /// rounded up to even (a chain over the rows is cut between pairs).
    pub fn effective_shard_rows(&self, batch: usize, sizes: &[usize]) -> usize {
        let hidden = sizes.get(1..sizes.len().saturating_sub(1)).unwrap_or(&[]);
        let rows = match self.shard_rows {
            0 => auto_shard_rows(batch, hidden, self.effective_threads()),
            s => s.clamp(1, batch.max(1)),
        };
        rows.next_multiple_of(self.precision.k_align())
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
    fn auto_shards_cut_narrow_layers_by_thread_and_wide_ones_by_512_rows() {
        if crate::kernels::gemm::gemm_path() == crate::kernels::gemm::GemmPath::MatrixMultiply {
            assert_eq!(auto_shard_rows(256, &[1024], 2), 256);
            return;
        }
        // S, M, L and XL on one and two threads.
        assert_eq!(auto_shard_rows(64, &[128], 1), 64);
        assert_eq!(auto_shard_rows(64, &[128], 2), 32);
        assert_eq!(auto_shard_rows(128, &[512, 512], 2), 128);
        assert_eq!(auto_shard_rows(256, &[1024, 1024], 2), 256);
        assert_eq!(auto_shard_rows(512, &[4096, 4096], 2), 512);
        // Narrow layers: a shard a thread, of at least 32 rows.
        assert_eq!(auto_shard_rows(200, &[100], 2), 100);
        assert_eq!(auto_shard_rows(40, &[128], 8), 40);
        assert_eq!(auto_shard_rows(1000, &[64], 16), 63);
        assert_eq!(auto_shard_rows(1, &[], 4), 1);
        assert_eq!(auto_shard_rows(0, &[], 4), 1);
        // Wide layers: one shard up to 512 rows, whatever the threads.
        assert_eq!(auto_shard_rows(256, &[1024, 1024], 16), 256);
        assert_eq!(auto_shard_rows(2000, &[4096], 16), 512);
    }

    #[test]
    fn the_config_cuts_by_the_setting_or_the_batch_widths_and_threads() {
        let c = TrainConfig { batch_size: 200, threads: 2, ..TrainConfig::default() };
        let sizes = [784, 256, 128, 10];
        assert_eq!(c.effective_shard_rows(200, &sizes), auto_shard_rows(200, &[256, 128], 2));
        let c = TrainConfig { shard_rows: 7, ..c };
        assert_eq!(c.effective_shard_rows(200, &[784, 1024, 10]), 7);
        assert_eq!(c.effective_shard_rows(5, &[784, 1024, 10]), 5);
    }
}
