//! # backprop
//!
//! Multilayer perceptrons trained by backpropagation on CPUs.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

mod error;
pub mod kernels;
pub mod rng;

pub use error::{Error, ErrorKind, Result};
pub use kernels::{simd_path, SimdPath};
