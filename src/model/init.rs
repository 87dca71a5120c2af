//! Seeded initial weights: Glorot/Xavier uniform for sigmoid and tanh, He
//! uniform for ReLU, biases zero. Draws run layer by layer over `W`
//! row-major, so a seed gives the same network on every platform.

use crate::layers::Activation;
use crate::layout::layer_ranges;
use crate::rng::Rng;

/// The half-width of the uniform initial weights of an `inp × out` layer:
/// `√(6/(in+out))` (Glorot) for sigmoid and tanh, `√(6/in)` (He) for ReLU.
pub fn init_limit(activation: Activation, inp: usize, out: usize) -> f32 {
    let fan = match activation {
        Activation::Relu => inp as f64,
        Activation::Sigmoid | Activation::Tanh => (inp + out) as f64,
    };
    (6.0 / fan).sqrt() as f32
}

/// Fills `params` (laid out as in [`Mlp`](super::Mlp)) with initial values.
pub(crate) fn init_params(sizes: &[usize], activation: Activation, seed: u64, params: &mut [f32]) {
    let mut rng = Rng::new(seed);
    for l in 0..sizes.len() - 1 {
        let (w, b) = layer_ranges(sizes, l);
        let limit = init_limit(activation, sizes[l], sizes[l + 1]);
        for v in &mut params[w] {
            *v = rng.uniform(-limit, limit);
        }
        params[b].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_glorot_and_he() {
        assert!((init_limit(Activation::Sigmoid, 784, 128) - (6.0f32 / 912.0).sqrt()).abs() < 1e-7);
        assert!((init_limit(Activation::Relu, 784, 128) - (6.0f32 / 784.0).sqrt()).abs() < 1e-7);
    }
}
