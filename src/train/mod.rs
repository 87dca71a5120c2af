//! Training: one step is
//!
//! ```text
//! pack W, Wᵀ ─▶ shards in parallel: forward ─▶ head (y, E, δ) ─▶ backward δ
//!            ─▶ reduce: ∂E/∂W = Σ_shards hᵀ·δ, tile by tile in parallel
//!            ─▶ update: the optimizer over the flat parameters, in chunks
//! ```
//!
//! all inside the trainer's own thread pool ([`Trainer`]).

mod config;
mod pool;
mod reduce;
mod shard;
mod step;
mod workspace;

pub use config::{auto_shard_rows, TrainConfig};
pub use step::Trainer;
