//! CSV of numbers, read with the `csv` crate in one pass (gunzipped on the
//! fly): cells separated by commas, quoted or not, spaces around them
//! ignored; CRLF line ends and a UTF-8 byte-order mark are fine; blank lines
//! are skipped. One example per line, the last K columns its targets.
//!
//! A first line none of whose cells is a number is a header and is skipped;
//! a first line with some numbers and some other cells is an error at the
//! first cell that is not a number (a typo, not a header). Every other cell
//! must be a finite number, and every row as long as the first.

use super::{open, read_error, Dataset, Source};
use crate::error::{Error, Result};
use crate::mem;
use std::io::Read;
use std::path::Path;

/// The 1-based line on which the record reported at byte `pos` of the
/// (decompressed) text starts. The `csv` crate reports a record at the line
/// end that precedes it (and counts CRLF lines short), so the file is read
/// again up to there: only on the way to an error.
fn line_at(path: &Path, pos: u64) -> Option<usize> {
    let mut src = open(path).ok()?;
    let mut bytes = Vec::new();
    (&mut src.reader).take(pos.saturating_add(1 << 16)).read_to_end(&mut bytes).ok()?;
    let mut start = (pos as usize).min(bytes.len());
    while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
        start += 1;
    }
    Some(1 + bytes[..start].iter().filter(|&&b| b == b'\n').count())
}

/// `line L` or `line L, column C` of the record at byte `pos`.
fn at(path: &Path, pos: u64, col: Option<usize>) -> Option<String> {
    let line = line_at(path, pos).map_or_else(|| format!("byte {pos}"), |l| format!("line {l}"));
    Some(match col {
        Some(c) => format!("{line}, column {c}"),
        None => line,
    })
}

/// A cell as a finite number, or what is wrong with it.
fn number(cell: &str) -> std::result::Result<f32, String> {
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("expected a finite number, got {v}")),
        Err(_) if cell.is_empty() => Err("expected a number, got an empty cell".into()),
        Err(_) => Err(format!("expected a number, got {cell:?}")),
    }
}

/// The error of a `csv` reader, located.
fn csv_error(path: &Path, gz: bool, e: csv::Error) -> Error {
    let pos = e.position().map(|p| p.byte());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => read_error(path, gz, io),
        csv::ErrorKind::Utf8 { .. } => Error::format(
            path,
            pos.and_then(|p| at(path, p, None)),
            "not text (invalid UTF-8); expected comma-separated numbers",
        ),
        other => Error::format(path, pos.and_then(|p| at(path, p, None)), format!("{other:?}")),
    }
}

/// Loads the CSV `src` reads from `path`, whose last `targets(columns)`
/// columns are targets: the count is chosen from the first data row's
/// width, so the file is read once.
pub(super) fn load(path: &Path, src: Source, targets: impl FnOnce(usize) -> usize) -> Result<Dataset> {
    let gz = src.gz;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(src.reader);
    let mut rec = csv::StringRecord::new();
    let (mut x, mut y, mut rows) = (Vec::new(), Vec::new(), 0usize);
    let mut shape: Option<(usize, usize)> = None; // (columns, targets)
    let mut targets = Some(targets);
    let mut first = true;
    while reader.read_record(&mut rec).map_err(|e| csv_error(path, gz, e))? {
        if rec.iter().all(str::is_empty) {
            continue; // a blank line (or only spaces)
        }
        let pos = rec.position().map_or(0, |p| p.byte());
        let cells: Vec<std::result::Result<f32, String>> = rec.iter().map(number).collect();
        if std::mem::take(&mut first) {
            match cells.iter().position(|c| c.is_err()) {
                Some(_) if cells.iter().all(|c| c.is_err()) => continue, // the header
                Some(c) => {
                    let msg = format!("{} (a header line holds no numbers)", cells[c].clone().unwrap_err());
                    return Err(Error::format(path, at(path, pos, Some(c + 1)), msg));
                }
                None => {}
            }
        }
        let (w, k) = *shape.get_or_insert_with(|| (cells.len(), targets.take().map_or(0, |f| f(cells.len()))));
        if cells.len() != w {
            let msg = format!("expected {w} columns like the first row, got {}", cells.len());
            return Err(Error::format(path, at(path, pos, None), msg));
        }
        if w <= k {
            let msg = format!("{w} columns leave no features beside {k} target column(s)");
            return Err(Error::format(path, at(path, pos, None), msg));
        }
        mem::reserve(&mut x, w - k, "CSV features")?;
        mem::reserve(&mut y, k, "CSV targets")?;
        for (c, cell) in cells.into_iter().enumerate() {
            let v = cell.map_err(|msg| Error::format(path, at(path, pos, Some(c + 1)), msg))?;
            if c < w - k {
                x.push(v);
            } else {
                y.push(v);
            }
        }
        rows += 1;
    }
    match shape {
        Some((w, k)) => Ok(Dataset { path: path.to_path_buf(), rows, features: w - k, targets: k, x, y }),
        None => Err(Error::format(path, None, "no data rows (the file is empty or holds only a header)")),
    }
}
