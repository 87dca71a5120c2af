//! `backprop plot`: draw a training run's loss and accuracy (or R²) against
//! epochs, from the log `train --log` wrote, as SVG or PNG.

mod curves;
mod draw;

use crate::files::{check_writable, refuse_clobbering};
use crate::Failure;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// The log of a run (`train --log FILE`)
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// The picture to write: a .svg or .png file (replaced atomically)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The run to draw, by the id on its log lines [default: the log's last run]
    #[arg(long, value_name = "ID")]
    run: Option<String>,
}

/// The picture formats, by the extension of `--out`.
enum Format {
    Svg,
    Png,
}

pub fn run(a: PlotArgs) -> Result<(), Failure> {
    refuse_clobbering(&[("--log", &a.log)], &[("--out", &a.out)])?;
    let ext = a.out.extension().map(|e| e.to_string_lossy().to_lowercase());
    let format = match ext.as_deref() {
        Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        _ => {
            let msg = format!("--out {} must end in .svg or .png (the picture's format)", a.out.display());
            return Err(Failure::usage(msg));
        }
    };
    check_writable("--out", &a.out)?;
    let c = curves::read(&a.log, a.run.as_deref())?;
    let bytes = match format {
        Format::Svg => draw::svg(&c),
        Format::Png => draw::png(&c),
    };
    let bytes = bytes.map_err(|e| backprop::Error::config("plot", format!("cannot draw {}: {e}", a.out.display())))?;
    backprop::model::write_atomic(&a.out, &bytes)?;
    crate::common::say(format!("drew {}", a.out.display()))
}
