//! `backprop predict`: a saved model's outputs for each row, as CSV.

use crate::common;
use crate::Failure;
use backprop::data;
use backprop::model::write_atomic;
use backprop::{Head, Mlp, Predictor};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// The model (safetensors, as `backprop train` saves it)
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Input data: CSV, or an MNIST *-images-idx3-ubyte[.gz] file
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// CSV: the last K columns are targets, ignored here [default: 0 when the column count equals the
    /// model's inputs, else as for eval]
    #[arg(long, value_name = "K")]
    targets: Option<usize>,
    /// Write the CSV here (atomically) instead of to standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The CSV: a header, then per row (for softmax) the predicted class and the
/// probabilities, or the outputs.
fn render(mlp: &Mlp, y: &[f32]) -> String {
    let o = mlp.outputs();
    let softmax = mlp.head() == Head::Softmax;
    let mut s = String::with_capacity(y.len() * 12);
    let names: Vec<String> = (0..o).map(|j| format!("y{j}")).collect();
    s += &if softmax { format!("class,{}\n", names.join(",")) } else { format!("{}\n", names.join(",")) };
    for row in y.chunks_exact(o) {
        if softmax {
            let class = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            let _ = write!(s, "{class},");
        }
        for (j, v) in row.iter().enumerate() {
            let _ = write!(s, "{}{v}", if j > 0 { "," } else { "" });
        }
        s.push('\n');
    }
    s
}

pub fn run(a: PredictArgs) -> Result<(), Failure> {
    let mlp = Mlp::load(&a.model)?;
    let k = match a.targets {
        Some(k) => k,
        None if data::columns(&a.data)? == mlp.inputs() => 0,
        None => common::default_targets(mlp.head(), mlp.outputs()),
    };
    let ds = data::load(&a.data, k)?;
    common::check_features(&ds, &mlp, &a.model)?;
    let mut y = vec![0.0; ds.rows * mlp.outputs()];
    Predictor::new(&mlp)?.predict(&ds.x, ds.rows, &mut y)?;
    let csv = render(&mlp, &y);
    match &a.out {
        Some(p) => write_atomic(p, csv.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            if let Err(e) = out.write_all(csv.as_bytes()).and_then(|()| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}
