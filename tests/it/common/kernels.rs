//! The kernels' paths this CPU runs, the scalar twins, and output buffers
//! between NaN guards, for the tests that hold the vector kernels against
//! their twins.

use backprop::kernels::{Kernels, SimdPath};

/// NaN values on each side of a [`Guarded`] body.
const GUARD: usize = 19;

/// The kernels of every path this CPU runs.
pub fn paths() -> Vec<Kernels> {
    SimdPath::ALL.into_iter().filter_map(Kernels::for_path).collect()
}

/// The scalar twins.
pub fn scalar() -> Kernels {
    Kernels::for_path(SimdPath::Scalar).unwrap()
}

/// A buffer of `n` values surrounded by NaN guards; `body` is the middle.
pub struct Guarded(Vec<f32>, usize);

impl Guarded {
    pub fn nan(n: usize) -> Self {
        Guarded(vec![f32::NAN; n + 2 * GUARD], n)
    }
    pub fn from(v: &[f32]) -> Self {
        let mut g = Guarded::nan(v.len());
        g.body_mut().copy_from_slice(v);
        g
    }
    pub fn body(&self) -> &[f32] {
        &self.0[GUARD..GUARD + self.1]
    }
    pub fn body_mut(&mut self) -> &mut [f32] {
        &mut self.0[GUARD..GUARD + self.1]
    }
    pub fn assert_guards(&self, what: &str) {
        let (head, tail) = (&self.0[..GUARD], &self.0[GUARD + self.1..]);
        assert!(head.iter().chain(tail).all(|v| v.is_nan()), "{what}: wrote outside its slice");
    }
}
