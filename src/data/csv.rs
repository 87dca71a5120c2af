//! CSV of numbers: cells separated by commas, one example per line, the last
//! K columns its targets. A first line that does not parse as numbers is a
//! header and is skipped; blank lines are skipped. Every other cell must be
//! a finite number, and every row as long as the first.

use super::{open, read_error, Dataset};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The text of the file (gunzipped if need be), checked to be UTF-8.
fn read_text(path: &Path) -> Result<String> {
    let mut src = open(path)?;
    let mut bytes = Vec::new();
    src.reader.read_to_end(&mut bytes).map_err(|e| read_error(path, src.gz, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        Error::format(path, Some(format!("line {line}")), "not text (invalid UTF-8); expected comma-separated numbers")
    })
}

/// Lines that hold data: `(line number, text)`, the header and blank lines
/// left out.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let header = lines.peek().is_some_and(|(_, l)| l.split(',').any(|c| c.trim().parse::<f32>().is_err()));
    if header {
        lines.next();
    }
    lines
}

fn parse_cell(path: &Path, line: usize, col: usize, cell: &str) -> Result<f32> {
    let cell = cell.trim();
    let at = || Some(format!("line {line}, column {col}"));
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(Error::format(path, at(), format!("expected a finite number, got {v}"))),
        Err(_) if cell.is_empty() => Err(Error::format(path, at(), "expected a number, got an empty cell")),
        Err(_) => Err(Error::format(path, at(), format!("expected a number, got {cell:?}"))),
    }
}

/// The number of columns of the first data row.
pub(super) fn columns(path: &Path) -> Result<usize> {
    let text = read_text(path)?;
    let first = data_lines(&text).next();
    first.map(|(_, l)| l.split(',').count()).ok_or_else(|| Error::format(path, None, "no data rows"))
}

/// Loads a CSV whose last `targets` columns are targets.
pub(super) fn load(path: &Path, targets: usize) -> Result<Dataset> {
    let text = read_text(path)?;
    let mut width = None;
    let (mut x, mut y, mut rows) = (Vec::new(), Vec::new(), 0usize);
    for (line, l) in data_lines(&text) {
        let n = l.split(',').count();
        let w = *width.get_or_insert(n);
        if n != w {
            return Err(Error::format(
                path,
                Some(format!("line {line}")),
                format!("expected {w} columns like the first row, got {n}"),
            ));
        }
        if w <= targets {
            return Err(Error::format(
                path,
                Some(format!("line {line}")),
                format!("{w} columns leave no features beside {targets} target column(s)"),
            ));
        }
        for (c, cell) in l.split(',').enumerate() {
            let v = parse_cell(path, line, c + 1, cell)?;
            if c < w - targets {
                x.push(v);
            } else {
                y.push(v);
            }
        }
        rows += 1;
    }
    let Some(w) = width else {
        return Err(Error::format(path, None, "no data rows (the file is empty or holds only a header)"));
    };
    Ok(Dataset { path: path.to_path_buf(), rows, features: w - targets, targets, x, y })
}
