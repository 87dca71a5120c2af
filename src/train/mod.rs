//! Training: a step, read in the order it runs (`step.rs`):
//!
//! ```text
//! W, Wᵀ packed once          net::PackedWeights
//! shards side by side        shard.rs: rows gathered, forward (net::forward), head (y, E, δ_L),
//!                            backward.rs: δ down the layers, each δ packed
//! gradient                   gradient.rs: ∂E/∂W one chain over the batch's rows in order,
//!                            reduce.rs: summed here (Local) or along the ranks (Chain)
//! update                     update.rs: the optimizer over the flat parameters, in chunks
//! checkpoint                 checkpoint.rs (between steps, when the caller asks)
//! ```
//!
//! The trainer (`trainer.rs`) owns the workspaces, allocated once, and its
//! own thread pool ([`exec`](crate::exec)).

mod backward;
mod checkpoint;
mod config;
mod gradient;
mod reduce;
mod shard;
mod step;
mod trainer;
mod update;

pub use crate::exec::default_min_parallel_flops;
pub use checkpoint::{file_fingerprint, Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION};
pub use config::{auto_shard_rows, TrainConfig};
pub use trainer::Trainer;

/// Floating-point operations of one training step of a network with these
/// layer sizes on `batch` rows: `2·B·Σ in·out` forward, as much again for the
/// weight gradients, and `2·B·Σ in·out` over every layer but the first for
/// the input gradients (the count DEVELOPERS.md and the peers use).
pub fn flops_per_step(sizes: &[usize], batch: usize) -> f64 {
    let b = batch as f64;
    sizes.windows(2).enumerate().map(|(l, w)| (if l == 0 { 4.0 } else { 6.0 }) * b * (w[0] * w[1]) as f64).sum()
}
