//! The model: layer sizes, activation, head and parameters ([`Mlp`]), its
//! initial weights, and inference ([`Predictor`]).

mod init;
mod mlp;
mod predict;

pub use init::init_limit;
pub(crate) use mlp::layer_ranges;
pub use mlp::{LayerMut, LayerRef, Mlp, MlpBuilder};
pub use predict::Predictor;
