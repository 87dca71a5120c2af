//! Training: one step is
//!
//! ```text
//! shards (shards.rs): the batch cut into shards, each in turn, its layers'
//!   columns in blocks across the pool:
//!     forward (forward.rs) ─▶ head: y, E, δ_L ─▶ δ down the layers (backward.rs)
//!   ─▶ ∂E/∂W = Σ_shards hᵀ·δ, tile by tile in parallel (backward.rs),
//!      the shards added in one fixed order (reduce.rs)
//!      (across ranks, Trainer::distribute: the same order through a
//!      chain of processes, backward a layer at a time between; reduce.rs)
//!   ─▶ update: the optimizer over the flat parameters, in chunks (update.rs)
//!   ─▶ checkpoint (between steps, when the caller asks; checkpoint.rs)
//! ```
//!
//! The GEMMs read `W` (forward) and `Wᵀ` (input gradients, a transposed
//! view) where they lie, packing each `KC × NC` block as they reach it, so
//! the trainer keeps no packed copy of the weights. All of it runs inside
//! the trainer's own thread pool ([`Trainer`]).

mod backward;
mod checkpoint;
mod config;
pub(crate) mod forward;
pub(crate) mod pool;
mod reduce;
mod shards;
mod step;
mod update;

pub use checkpoint::{file_fingerprint, Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION};
pub use config::{auto_shard_rows, default_min_parallel_flops, TrainConfig};
pub(crate) use shards::sparse_inputs;
pub use step::Trainer;

/// Floating-point operations of one training step of a network with these
/// layer sizes on `batch` rows: `2·B·Σ in·out` forward, as much again for the
/// weight gradients, and `2·B·Σ in·out` over every layer but the first for
/// the input gradients (the count DEVELOPERS.md and the peers use).
pub fn flops_per_step(sizes: &[usize], batch: usize) -> f64 {
    let b = batch as f64;
    sizes.windows(2).enumerate().map(|(l, w)| (if l == 0 { 4.0 } else { 6.0 }) * b * (w[0] * w[1]) as f64).sum()
}
