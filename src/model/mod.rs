//! The model: layer sizes, activation, head and parameters ([`Mlp`]), its
//! initial weights, its files (safetensors), the standardisation it
//! carries ([`Scaling`]) and the encoding of its input columns, and
//! inference ([`Predictor`]), from numbers or from raw table cells.

mod cells;
mod init;
mod io;
mod mlp;
mod predict;
mod scaling;

pub use init::init_limit;
pub use io::{
    check_writable, is_special, remove_dead_temps, remove_written, safetensors_metadata, write_atomic, FORMAT, VERSION,
};
pub(crate) use io::{le_bytes, write_safetensors, RawTensor};
pub use mlp::{LayerMut, LayerRef, Mlp, MlpBuilder};
pub use predict::{LabeledRows, Predictor};
pub use scaling::{Scaling, Standardizer};
