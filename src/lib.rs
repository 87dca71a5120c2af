//! # backprop
//!
//! Multilayer perceptrons trained by backpropagation on CPUs.
//!
//! A network of dense layers computes, for a batch of rows `h₀ = x`,
//!
//! ```text
//! s_l = h_{l-1}·W_l + b_l        h_l = f(s_l)  (hidden layers: sigmoid, tanh or ReLU)
//! ```
//!
//! and an output head turns the last `s` into outputs `y` and an error `E`
//! per row ([`Head`]: softmax cross-entropy, logistic binary cross-entropy or
//! half squared error). For all three heads `∂E/∂s = y - t`; backward,
//!
//! ```text
//! ∂E/∂W_l = h_{l-1}ᵀ·δ_l     ∂E/∂b_l = Σ_rows δ_l     δ_{l-1} = (δ_l·W_lᵀ) ⊙ f'(s_{l-1})
//! ```
//!
//! with `f'` taken from what forward kept (`h(1-h)`, `1-h²`, `[h > 0]`).
//! The minibatch objective is the mean error over the rows.
//!
//! ```
//! use backprop::{Activation, Head, Mlp, TrainConfig, Trainer};
//!
//! let mlp = Mlp::builder().input(2).hidden(8).activation(Activation::Tanh)
//!     .head(Head::Logistic, 1).seed(1).build()?;
//! let config = TrainConfig { batch_size: 4, lr: 1.0, threads: 1, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(mlp, config)?;
//! let x = [0., 0., 0., 1., 1., 0., 1., 1.];
//! let t = [0., 1., 1., 0.];
//! for _ in 0..2000 {
//!     trainer.step(&x, &t, 4)?;
//! }
//! let mut y = [0.0; 4];
//! trainer.mlp().predict(&x, 4, &mut y)?;
//! assert!(y[0] < 0.5 && y[1] > 0.5 && y[2] > 0.5 && y[3] < 0.5);
//! # Ok::<(), backprop::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

pub mod data;
pub mod dist;
mod error;
mod exec;
pub mod ffi;
pub mod head;
pub mod kernels;
pub mod layers;
mod layout;
pub mod mem;
pub mod metrics;
pub mod model;
mod net;
pub mod optim;
pub mod rng;
pub mod train;

pub use error::{Error, ErrorKind, Result};
pub use head::Head;
pub use kernels::gemm::Precision;
pub use kernels::{simd_path, SimdPath};
pub use layers::Activation;
pub use model::{LabeledRows, Mlp, MlpBuilder, Predictor};
pub use train::{TrainConfig, Trainer};
