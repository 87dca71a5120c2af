//! The integration tests, one module a subject, in one test binary (one
//! link of the library instead of one per file). `tests/alloc.rs` (a
//! counting global allocator) and `tests/mpi.rs` (the `mpi` feature) are
//! binaries of their own.

mod common;

mod bad_input;
mod bf16;
mod bf16_torch;
#[cfg(feature = "capi")]
mod c_abi;
mod cli;
mod csv;
mod determinism;
mod distributed;
mod encoding;
mod eval_report;
mod extremes;
mod feedback;
mod fuzz;
mod gemm;
mod golden;
mod hostile;
mod interrupt;
mod kernels;
mod learning;
mod optimizers;
mod outputs;
mod plot;
mod poisson_torch;
mod precision_cli;
mod predict_columns;
mod readme;
mod reference;
mod resume;
mod scaling;
mod sparse;
mod standardize;
mod tabular;
mod weight_column;
mod weights;
