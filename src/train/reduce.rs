//! The reduction over shards, in one fixed order: the gradients of a batch
//! are sums over its shards, and the global norm a sum over gradient tiles,
//! each added in the same order whatever thread computed the terms, so that
//! a step's bits depend on the shard cut alone (rayon's maintainers' advice
//! on float sums; STYLE.md's "determinism by construction").

use crate::error::Result;

/// `Σ_s term(s)` in shard order: calls `term(shard, accumulate)` for each
/// shard in turn, `accumulate` false for the first (which writes the sum)
/// and true after (which add to it).
pub(crate) fn in_shard_order<S>(shards: &[S], mut term: impl FnMut(&S, bool) -> Result<()>) -> Result<()> {
    shards.iter().enumerate().try_for_each(|(s, sh)| term(sh, s > 0))
}

/// The squared global norm from the squared norms of the gradient's tiles,
/// added left to right in f64.
pub(crate) fn squared_norm(tiles: impl Iterator<Item = f64>) -> f64 {
    tiles.fold(0.0, |acc, t| acc + t)
}
