//! Rows of raw cells → a network's inputs for a [`Predictor`](super::Predictor):
//! each cell read as the model's training read its column
//! ([`Encoding`]), or as a number for a model of plain numeric inputs.

use crate::data::encoding::CategoryIndex;
use crate::data::Encoding;
use crate::error::{Error, Result};
use crate::mem;

/// A model's columns, indexed, with room for one call's codes and inputs.
#[derive(Debug)]
pub(super) struct CellReader {
    /// The model's encoding, or the plain one of its inputs.
    enc: Encoding,
    /// Whether `enc` is the model's own.
    own: bool,
    index: CategoryIndex,
    codes: Vec<f32>,
    x: Vec<f32>,
}

impl CellReader {
    /// The reader of a model with `inputs` inputs read by `enc` (none:
    /// each input a numeric column).
    pub(super) fn new(enc: Option<&Encoding>, inputs: usize) -> CellReader {
        let own = enc.is_some();
        let enc = enc.cloned().unwrap_or_else(|| Encoding::plain(&[], inputs));
        CellReader { index: CategoryIndex::new(&enc), enc, own, codes: Vec::new(), x: Vec::new() }
    }

    /// The model's encoding, when it has one.
    pub(super) fn encoding(&self) -> Option<&Encoding> {
        self.own.then_some(&self.enc)
    }

    /// Cells a row holds.
    pub(super) fn columns(&self) -> usize {
        self.enc.columns.len()
    }

    /// The inputs of `rows` rows of `cells` (row-major, rows × columns),
    /// in a buffer of its own, which the caller hands back with
    /// [`give_back`](Self::give_back) so that it is reused. An error names
    /// the row and column (from 1) of a cell the model cannot read.
    pub(super) fn inputs(&mut self, cells: &[&str], rows: usize) -> Result<Vec<f32>> {
        let (cols, width) = (self.enc.columns.len(), self.enc.width());
        if rows.checked_mul(cols) != Some(cells.len()) {
            return Err(Error::shape(
                "cells",
                format!("{rows} rows × {cols} columns"),
                format!("{} cells", cells.len()),
            ));
        }
        let mut x = std::mem::take(&mut self.x);
        x.clear();
        mem::reserve(&mut x, mem::product(rows, width, "inputs")?, "inputs")?;
        x.resize(rows * width, 0.0);
        self.codes.resize(cols, 0.0);
        let at = |r: usize, c: usize, msg: String| {
            let name = &self.enc.columns[c].name;
            let name = if name.is_empty() { String::new() } else { format!(" ({name:?})") };
            Error::config("cells", format!("row {}, column {}{name}: {msg}", r + 1, c + 1))
        };
        for (r, (row, out)) in cells.chunks_exact(cols.max(1)).zip(x.chunks_exact_mut(width.max(1))).enumerate() {
            for (c, cell) in row.iter().enumerate() {
                self.codes[c] = self.enc.code(c, cell.trim(), &self.index).map_err(|m| at(r, c, m))?;
            }
            self.enc.expand(&self.codes, out).map_err(|c| at(r, c, "a missing value".into()))?;
        }
        Ok(x)
    }

    /// Takes back the buffer [`inputs`](Self::inputs) gave.
    pub(super) fn give_back(&mut self, x: Vec<f32>) {
        self.x = x;
    }
}
