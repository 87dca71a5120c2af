//! A table's feature cells → codes ([`encoding`](super::encoding)), column
//! by column, as a reader meets them: plain numbers (the library's default),
//! columns learned from training rows, or a model's columns.

use super::columns::Column;
use super::encoding::{classify, CategoryIndex, Cell, Dictionary, Encoding, Missing, ReadColumn, Unknown};

/// How a reader turns feature cells into inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Cells {
    /// Every feature cell a finite number; a missing or text cell is an
    /// error. The default.
    #[default]
    Numbers,
    /// Training rows: a column holding text (or named here) is categorical,
    /// missing cells as `missing` says; the dataset gets the learned
    /// [`Encoding`].
    Learn {
        /// Columns to read as categories although they hold numbers (a zip
        /// code), by header name or position from 1.
        categorical: Vec<Column>,
        /// What fills a missing cell.
        missing: Missing,
        /// What a category unseen in training becomes, later.
        unknown: Unknown,
    },
    /// Rows for a model: its columns, matched by header name when the file
    /// and the model both have names, else by position.
    Model(Encoding),
}

/// What a feature column of a file held, as read: for `inspect`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ColumnSummary {
    /// The header's name (empty without a header).
    pub name: String,
    /// Whether it is read as categories.
    pub categorical: bool,
    /// Missing cells.
    pub missing: usize,
    /// The categories of a categorical column (as the encoding sorts
    /// them).
    pub categories: Vec<String>,
    /// The smallest and largest value of a numeric column with a value.
    pub range: Option<(f32, f32)>,
}

impl ColumnSummary {
    /// The summaries of `coded` (rows × columns, codes as read) under
    /// `enc`'s columns.
    pub(crate) fn of(coded: &[f32], enc: &Encoding) -> Vec<ColumnSummary> {
        let width = enc.columns.len();
        // One pass over the rows, in memory order.
        let (mut missing, mut lo, mut hi) =
            (vec![0; width], vec![f32::INFINITY; width], vec![f32::NEG_INFINITY; width]);
        for row in coded.chunks_exact(width.max(1)) {
            for (c, &v) in row.iter().enumerate() {
                if v.is_nan() {
                    missing[c] += 1;
                } else {
                    (lo[c], hi[c]) = (lo[c].min(v), hi[c].max(v));
                }
            }
        }
        let summary = |(c, col): (usize, &super::encoding::InputColumn)| {
            let (categories, range) = match &col.kind {
                super::encoding::Kind::Categorical { categories, .. } => (categories.clone(), None),
                super::encoding::Kind::Numeric { .. } => (Vec::new(), (lo[c] <= hi[c]).then_some((lo[c], hi[c]))),
            };
            let categorical = col.is_categorical();
            ColumnSummary { name: col.name.clone(), categorical, missing: missing[c], categories, range }
        };
        enc.columns.iter().enumerate().map(summary).collect()
    }
}

/// Why a cell could not be read.
#[derive(Debug)]
pub(crate) enum CellError {
    /// What is wrong, for the cell's line and column.
    Bad(String),
    /// Feature column `f` (from 0) turned out to hold text after numbers:
    /// read the file again with it categorical.
    Restart(usize),
}

/// A column as being learned.
#[derive(Clone, Debug)]
enum Learning {
    /// Numbers so far (and whether any was seen).
    Numeric {
        seen: bool,
    },
    Text(Dictionary),
}

/// How one reader reads feature cells.
#[derive(Debug)]
enum Mode {
    Numbers,
    Learn { columns: Vec<Learning>, missing: Missing, unknown: Unknown },
    Model { enc: Encoding, index: CategoryIndex },
}

/// The feature columns' reader for one file.
#[derive(Debug)]
pub(crate) struct FeatureReader {
    mode: Mode,
    names: Vec<String>,
    /// Where file feature column f goes in a row of codes.
    slots: Vec<usize>,
}

impl FeatureReader {
    /// A reader of `n` feature columns named `names` (empty without a
    /// header; `names[f]` is feature column f's), reading as `cells` says;
    /// `forced` feature columns (from 0) are categorical when learning. An
    /// error when the columns do not match a model's.
    pub(crate) fn new(cells: &Cells, n: usize, names: &[String], forced: &[usize]) -> Result<Self, String> {
        let name = |f: usize| names.get(f).cloned().unwrap_or_default();
        let own = (0..n).map(name).collect::<Vec<_>>();
        let mode = match cells {
            Cells::Numbers => Mode::Numbers,
            Cells::Learn { missing, unknown, .. } => Mode::Learn {
                columns: (0..n)
                    .map(|f| {
                        if forced.contains(&f) {
                            Learning::Text(Dictionary::default())
                        } else {
                            Learning::Numeric { seen: false }
                        }
                    })
                    .collect(),
                missing: *missing,
                unknown: *unknown,
            },
            Cells::Model(enc) => {
                let slots = model_slots(enc, n, names)?;
                // Codes come in the model's order, under its names when it has them.
                let named = enc.columns.iter().all(|c| !c.name.is_empty());
                let names = if named { enc.columns.iter().map(|c| c.name.clone()).collect() } else { own };
                let mode = Mode::Model { index: CategoryIndex::new(enc), enc: enc.clone() };
                return Ok(FeatureReader { mode, names, slots });
            }
        };
        Ok(FeatureReader { mode, names: own, slots: (0..n).collect() })
    }

    /// A reader of plain numbers, of no columns yet.
    pub(crate) fn plain() -> FeatureReader {
        FeatureReader { mode: Mode::Numbers, names: Vec::new(), slots: Vec::new() }
    }

    /// The names of the columns of a row of codes, in its order (empty
    /// strings where there are none).
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Where file feature column `f` goes in a row of codes.
    pub(crate) fn slot(&self, f: usize) -> usize {
        self.slots[f]
    }

    /// The code of `cell` in file feature column `f`.
    pub(crate) fn read(&mut self, f: usize, cell: &str) -> Result<f32, CellError> {
        match &mut self.mode {
            Mode::Numbers => number(cell).map_err(|m| CellError::Bad(m + feature_hint(cell))),
            Mode::Model { enc, index } => enc.code(self.slots[f], cell, index).map_err(CellError::Bad),
            Mode::Learn { columns, missing, .. } => learn(&mut columns[f], f, cell, *missing),
        }
    }

    /// The encoding learned from `coded` (rows × columns, as read; its
    /// categorical codes are renumbered), or the model's; `None` when
    /// reading plain numbers. An error message when a fill cannot be had.
    pub(crate) fn finish(self, coded: &mut [f32]) -> Result<Option<Encoding>, String> {
        match self.mode {
            Mode::Numbers => Ok(None),
            Mode::Model { enc, .. } => Ok(Some(enc)),
            Mode::Learn { columns, missing, unknown } => {
                let read = columns
                    .into_iter()
                    .zip(self.names)
                    .map(|(l, name)| ReadColumn {
                        name,
                        categories: match l {
                            Learning::Text(d) => Some(d),
                            Learning::Numeric { .. } => None,
                        },
                    })
                    .collect();
                Encoding::fit(read, coded, missing, unknown).map(Some)
            }
        }
    }
}

/// A cell of column `f` being learned.
fn learn(col: &mut Learning, f: usize, cell: &str, missing: Missing) -> Result<f32, CellError> {
    let kind = classify(cell);
    if kind == Cell::Missing {
        if missing == Missing::Error {
            let hint = "; fill missing cells with --missing auto (or mean, median, most-frequent), or drop those rows";
            return Err(CellError::Bad(number(cell).unwrap_err() + hint));
        }
        return Ok(f32::NAN);
    }
    match col {
        Learning::Numeric { seen } => match kind {
            Cell::Number(v) => {
                *seen = true;
                Ok(v)
            }
            Cell::Infinite => Err(CellError::Bad(format!("expected a finite number, got {cell:?}"))),
            Cell::Missing | Cell::Text if *seen => Err(CellError::Restart(f)),
            Cell::Missing | Cell::Text => {
                *col = Learning::Text(Dictionary::default());
                learn(col, f, cell, missing)
            }
        },
        Learning::Text(d) => {
            d.code(cell).ok_or_else(|| CellError::Bad("more than 2²⁴ categories in one column".to_string()))
        }
    }
}

/// For each of a file's `n` feature columns, its column in `enc`: by name
/// when both have names, else by position; an error naming what does not
/// match.
fn model_slots(enc: &Encoding, n: usize, names: &[String]) -> Result<Vec<usize>, String> {
    let want: Vec<&str> = enc.columns.iter().map(|c| c.name.as_str()).collect();
    let named = !names.is_empty() && want.iter().all(|w| !w.is_empty());
    if !named {
        if n != want.len() {
            let what = if enc.is_plain() { "inputs" } else { "columns" };
            return Err(format!("{n} features per row, but the model takes {} {what}", want.len()));
        }
        return Ok((0..n).collect());
    }
    let missing: Vec<&str> = want.iter().filter(|w| !names.iter().any(|h| h == *w)).copied().collect();
    let extra: Vec<&str> = names.iter().filter(|h| !want.contains(&h.as_str())).map(String::as_str).collect();
    if let Some(d) = names.iter().enumerate().find(|(i, h)| names[..*i].contains(h)).map(|(_, h)| h) {
        return Err(format!("the header names the feature column {d:?} twice, so it cannot be matched by name"));
    }
    if !missing.is_empty() || !extra.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("it lacks the feature column(s) {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            why.push(format!("the model does not know its column(s) {}", extra.join(", ")));
        }
        let known = want.join(", ");
        return Err(format!(
            "the header does not match the model's features: {}; the model's features are {known}",
            why.join("; ")
        ));
    }
    Ok(names.iter().map(|h| want.iter().position(|w| w == h).expect("matched above")).collect())
}

/// A cell as a finite number, or what is wrong with it.
pub(crate) fn number(cell: &str) -> Result<f32, String> {
    match classify(cell) {
        Cell::Number(v) => Ok(v),
        Cell::Infinite => Err(format!("expected a finite number, got {cell:?}")),
        Cell::Missing if cell.is_empty() => Err("expected a number, got an empty cell (a missing value)".into()),
        Cell::Missing => Err(format!("expected a number, got {cell:?} (a missing value)")),
        Cell::Text => Err(format!("expected a number, got {cell:?}")),
    }
}

/// What to do about a feature cell that is not a number, when reading
/// plain numbers.
fn feature_hint(cell: &str) -> &'static str {
    match classify(cell) {
        Cell::Text => "; features must be numbers: encode a text column first (one-hot, as pandas.get_dummies does) or leave it out",
        Cell::Missing => "; drop the rows with missing values, or fill them in (as pandas' fillna does)",
        Cell::Number(_) | Cell::Infinite => "",
    }
}
