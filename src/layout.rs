//! Where a network's parameters sit in its one flat buffer: layer after
//! layer, `W (in × out, row-major)` then `b (out)`. Shared by the model,
//! the passes, the trainer and the files.

use std::ops::Range;

/// Where layer `l`'s weight and bias sit in a flat parameter buffer of a
/// network with these `sizes`.
pub(crate) fn layer_ranges(sizes: &[usize], l: usize) -> (Range<usize>, Range<usize>) {
    let start: usize = sizes.windows(2).take(l).map(|w| w[0] * w[1] + w[1]).sum();
    let (i, o) = (sizes[l], sizes[l + 1]);
    (start..start + i * o, start + i * o..start + i * o + o)
}

/// Number of parameters of a network with these sizes, or `None` on overflow.
pub(crate) fn count_params(sizes: &[usize]) -> Option<usize> {
    sizes.windows(2).try_fold(0usize, |acc, w| acc.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?))
}
