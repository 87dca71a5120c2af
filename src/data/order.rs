//! Row orders of a run, from its seed: the validation split, and the order
//! each epoch takes the training rows in. The command line and the Python
//! package both take them from here, so a run gives the same bits from
//! either.

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Seed offset of the epoch orders' stream.
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_4531;
/// Seed offset of the validation split's stream.
const SPLIT_STREAM: u64 = 0x5641_4c49_4441_5445;

/// The generator of a run's epoch orders: the order starts as `0..rows`,
/// and each epoch shuffles the one before it with this generator (unless
/// shuffling is off), then takes its batches in that order.
pub fn epoch_rng(seed: u64) -> Rng {
    Rng::new(seed ^ SHUFFLE_STREAM)
}

/// Rows of a table of `rows` rows kept for training (in table order) and
/// held out for validation (in the split's order): a seeded
/// `round(fraction·rows)` of them, at least one and at most `rows − 1`.
/// An error for fewer than two rows or a fraction outside (0, 1).
pub fn validation_split(rows: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::config("validation fraction", format!("must be in (0, 1), got {fraction}")));
    }
    if rows < 2 {
        return Err(Error::config("validation split", format!("needs at least two rows, got {rows}")));
    }
    let held = ((fraction * rows as f64).round() as usize).clamp(1, rows - 1);
    let mut order: Vec<usize> = (0..rows).collect();
    Rng::new(seed ^ SPLIT_STREAM).shuffle(&mut order);
    let val = order.split_off(rows - held);
    order.sort_unstable();
    Ok((order, val))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_holds_out_a_seeded_fraction_and_keeps_the_rest_in_order() {
        let (keep, val) = validation_split(10, 0.3, 7).unwrap();
        assert_eq!(val.len(), 3);
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = keep.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(validation_split(10, 0.3, 7).unwrap().1, val, "the same seed, the same split");
        assert_ne!(validation_split(10, 0.3, 8).unwrap().1, val, "another seed, another split");
        assert_eq!(validation_split(5, 0.01, 1).unwrap().1.len(), 1, "at least one row");
        assert!(validation_split(1, 0.5, 1).is_err() && validation_split(10, 1.0, 1).is_err());
    }
}
