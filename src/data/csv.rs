//! CSV of numbers, read with the `csv` crate in one pass (gunzipped on the
//! fly): cells separated by commas, semicolons or tabs (sniffed from the
//! first line unless given), quoted or not, spaces around them ignored; CRLF
//! line ends and a UTF-8 byte-order mark are fine; blank lines are skipped.
//! One example per line; its target columns the last K, or chosen by name or
//! position ([`CsvOptions`]).
//!
//! A first line none of whose cells is a number or a missing value (`NA`,
//! an empty cell, …) is a header, whose names the dataset keeps; any other
//! first line is data. Every row is as long as the first; feature cells
//! are read as [`CsvOptions::cells`] says (by default each a finite number,
//! a missing value an error at its line and column, never a reason to call
//! a line a header). A single target column may hold text (class names, as
//! `setosa`): its cells are kept as written ([`Dataset::labels`]).

use super::cells::{number, CellError, Cells, ColumnSummary, FeatureReader};
use super::columns::{aside_columns, feature_mask, forced_features, target_columns, Column, Columns};
use super::encoding::{classify, Cell, ExpandError};
use super::{open, read_error, Dataset, Source};
use crate::error::{Error, Result};
use crate::mem;
use std::io::Read;
use std::path::Path;

/// How to read a CSV file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsvOptions {
    /// The cell separator; sniffed from the first line when `None` (the most
    /// frequent of `,` `;` and tab outside quotes, `,` when none occurs).
    pub delimiter: Option<u8>,
    /// The target columns, in the order given (when empty: the last K,
    /// K as the caller decides from the width).
    pub targets: Vec<Column>,
    /// When `targets` is empty: the header's columns of these names, as
    /// targets in this order, if the file has a header holding every one
    /// (a model's target names); else the last K.
    pub targets_if_named: Vec<String>,
    /// A column read as text and neither feature nor target (a row id for
    /// `predict --id-column`): its cells go to [`Dataset::ids`].
    pub id: Option<Column>,
    /// A column of row weights (`--weight-column`), neither feature nor
    /// target: each cell a finite number ≥ 0, into [`Dataset::weights`].
    pub weight: Option<Column>,
    /// How feature cells become inputs: numbers (the default), columns
    /// learned from these rows, or a model's columns.
    pub cells: Cells,
}

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

/// How a CSV dataset was read: enough to find a data row's line again on
/// the way to an error about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvSource {
    /// The cell separator.
    pub delimiter: u8,
    /// Whether the first non-blank line is a header.
    pub header: bool,
    /// The target columns' positions in the file, from 1.
    pub target_columns: Vec<usize>,
}

/// The 1-based line of data row `row` (from 0) of the CSV at `path`, read
/// as `src` says: the file is read again up to that row, only on the way
/// to an error.
pub(super) fn row_line(path: &Path, src: &CsvSource, row: usize) -> Option<usize> {
    let (mut reader, _) = records(path, open(path).ok()?, Some(src.delimiter)).ok()?;
    let (mut rec, mut seen, mut header) = (csv::StringRecord::new(), 0, src.header);
    while reader.read_record(&mut rec).ok()? {
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if std::mem::take(&mut header) {
            continue;
        }
        if seen == row {
            return line_at(path, rec.position()?.byte());
        }
        seen += 1;
    }
    None
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

/// The separator of the first non-blank line of `head`: the most frequent
/// of `,` `;` tab outside double quotes (`,` on a tie or when none occurs).
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').find(|l| l.iter().any(|b| !b.is_ascii_whitespace())).unwrap_or(&[]);
    let (mut counts, mut quoted) = ([0usize; 3], false);
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' | b';' | b'\t' if !quoted => counts[[b',', b';', b'\t'].iter().position(|&d| d == b).unwrap()] += 1,
            _ => {}
        }
    }
    let best = (0..3).fold(0, |b, i| if counts[i] > counts[b] { i } else { b });
    [b',', b';', b'\t'][best]
}

/// A row weight: a finite number ≥ 0.
fn weight(cell: &str) -> std::result::Result<f32, String> {
    match number(cell) {
        Ok(v) if v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("a row weight must be ≥ 0, got {v}")),
        Err(m) => Err(format!("{m} (a row weight)")),
    }
}

/// What a CSV's rows turn into, gathered as they are read.
struct Table {
    /// Header names, when the first line is a header.
    names: Vec<String>,
    width: usize,
    /// Whether each column is a target, and the target columns in order.
    is_target: Vec<bool>,
    targets: Vec<usize>,
    /// Feature cells' codes, a row at a time in the reader's column order.
    x: Vec<f32>,
    y: Vec<f32>,
    /// The single target column's cells as written; whether one is text.
    labels: Texts,
    text: bool,
    rows: usize,
    /// The id column, and its cells.
    id: Option<usize>,
    ids: Texts,
    /// The weight column, and its values.
    weight: Option<usize>,
    weights: Vec<f32>,
    reader: FeatureReader,
}

/// Cells kept as written (a row's label or id), in one buffer: a `String`
/// a cell would cost an allocation and 24 bytes more each, for every row
/// of a file whose labels turn out to be numbers.
#[derive(Default)]
struct Texts {
    text: String,
    ends: Vec<usize>,
}

impl Texts {
    fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    /// The cells, one `String` each.
    fn into_strings(self) -> Vec<String> {
        let mut start = 0;
        let cell = |end: &usize| {
            let s = self.text[start..*end].to_string();
            start = *end;
            s
        };
        self.ends.iter().map(cell).collect()
    }
}

/// Why a row could not be added.
enum AddError {
    /// What is wrong, at a column (from 1) when one is to blame.
    At(Option<usize>, String),
    /// A feature column (from 0) holds text after numbers.
    Restart(usize),
}

impl Table {
    /// A table of rows `width` wide; `is_target` ([`feature_mask`]) is
    /// also set for the id and weight columns, which are no features either.
    fn new(
        names: Vec<String>,
        columns: &Columns<'_>,
        targets: Vec<usize>,
        is_target: Vec<bool>,
        reader: FeatureReader,
    ) -> Table {
        let (width, id, weight) = (columns.width, columns.id, columns.weight);
        let (x, y, labels, ids) = (Vec::new(), Vec::new(), Texts::default(), Texts::default());
        let weights = Vec::new();
        Table { names, width, is_target, targets, x, y, labels, text: false, rows: 0, id, ids, weight, weights, reader }
    }

    fn features(&self) -> usize {
        self.width - self.targets.len() - usize::from(self.id.is_some()) - usize::from(self.weight.is_some())
    }

    /// Adds a data row; the error names the 1-based column.
    fn add(&mut self, cells: &csv::StringRecord) -> std::result::Result<(), AddError> {
        if cells.len() != self.width {
            let like = if self.names.is_empty() { "the first row" } else { "the header" };
            return Err(AddError::At(
                None,
                format!("expected {} columns like {like}, got {}", self.width, cells.len()),
            ));
        }
        let features = self.features();
        let oom = |e: Error| AddError::At(None, e.to_string());
        mem::reserve(&mut self.x, features, "CSV features").map_err(oom)?;
        mem::reserve(&mut self.y, self.targets.len(), "CSV targets").map_err(oom)?;
        let base = self.x.len();
        self.x.resize(base + features, 0.0);
        for (f, (c, cell)) in cells.iter().enumerate().filter(|&(c, _)| !self.is_target[c]).enumerate() {
            let v = self.reader.read(f, cell).map_err(|e| match e {
                CellError::Bad(m) => AddError::At(Some(c + 1), m),
                CellError::Restart(f) => AddError::Restart(f),
            })?;
            self.x[base + self.reader.slot(f)] = v;
        }
        self.add_targets(cells).map_err(|(c, m)| AddError::At(Some(c), m))?;
        self.rows += 1;
        Ok(())
    }

    /// The target, id and weight cells of a row; the error names the
    /// 1-based column.
    fn add_targets(&mut self, cells: &csv::StringRecord) -> std::result::Result<(), (usize, String)> {
        let single = self.targets.len() == 1;
        for &c in &self.targets {
            let cell = &cells[c];
            match classify(cell) {
                Cell::Text if single => {
                    self.text = true;
                    self.y.push(f32::NAN);
                }
                Cell::Missing => {
                    let what = if cell.is_empty() { "an empty cell".to_string() } else { format!("{cell:?}") };
                    let msg = format!(
                        "the target is missing ({what}); every row needs its target: drop the rows without one"
                    );
                    return Err((c + 1, msg));
                }
                _ => self.y.push(number(cell).map_err(|m| (c + 1, m))?),
            }
            if single {
                self.labels.push(cell);
            }
        }
        if let Some(c) = self.id {
            self.ids.push(&cells[c]);
        }
        if let Some(c) = self.weight {
            self.weights.push(weight(&cells[c]).map_err(|m| (c + 1, m))?);
        }
        Ok(())
    }

    /// The dataset: the codes turned into inputs by the encoding learned
    /// (or given), or as read when the cells were plain numbers.
    fn into_dataset(mut self, path: &Path, delimiter: u8) -> Result<Dataset> {
        let reader = std::mem::replace(&mut self.reader, FeatureReader::plain());
        let ordered = reader.names().to_vec();
        let encoding = reader.finish(&mut self.x).map_err(|m| Error::format(path, None, m))?;
        let columns = encoding.as_ref().map_or_else(Vec::new, |e| ColumnSummary::of(&self.x, e));
        let encoding = encoding.filter(|e| !e.is_plain());
        let name = |c: usize| self.names.get(c).cloned();
        // The header's feature names in the order of the codes.
        let mut feature_names = if self.names.is_empty() { Vec::new() } else { ordered };
        let (mut x, mut features) = (std::mem::take(&mut self.x), self.features());
        if let Some(enc) = &encoding {
            x = enc.expand_rows(x, self.rows).map_err(|e| match e {
                ExpandError::Memory(e) => e,
                ExpandError::Missing { row, column } => Error::format(
                    path,
                    Some(format!("data row {}, feature {}", row + 1, column + 1)),
                    "a missing value",
                ),
            })?;
            features = enc.width();
            if !feature_names.is_empty() {
                feature_names = enc.input_names();
            }
        }
        let target_names = self.targets.iter().filter_map(|&c| name(c)).collect();
        let (header, target_columns) = (!self.names.is_empty(), self.targets.iter().map(|c| c + 1).collect());
        Ok(Dataset {
            path: path.to_path_buf(),
            rows: self.rows,
            features,
            targets: self.targets.len(),
            x,
            y: self.y,
            feature_names,
            target_names,
            labels: self.text.then(|| self.labels.into_strings()),
            ids: self.id.map(|_| self.ids.into_strings()),
            weights: self.weight.map(|_| self.weights),
            csv: Some(CsvSource { delimiter, header, target_columns }),
            encoding,
            columns,
        })
    }
}

/// A `csv` reader over `src`, its delimiter given or sniffed; and the
/// delimiter.
fn records(path: &Path, src: Source, delimiter: Option<u8>) -> Result<(csv::Reader<Box<dyn Read>>, u8)> {
    let (gz, mut reader) = (src.gz, src.reader);
    let mut head = vec![0u8; 1 << 16];
    let n = super::read_full(&mut reader, &mut head).map_err(|e| read_error(path, gz, e))?;
    head.truncate(n);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&head));
    let text: Box<dyn Read> = Box::new(std::io::Cursor::new(head).chain(reader));
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text);
    Ok((reader, delimiter))
}

/// Loads the CSV `src` reads from `path`; without chosen target columns
/// the last `last(columns)` are targets (but for an id column, which
/// `columns` does not count), the count chosen from the first row's width.
/// The file is read once, or again from the start for each feature column
/// that turns out to hold text after numbers while learning its columns
/// (which then reads as categorical from the first row).
pub(super) fn load(path: &Path, src: Source, opts: &CsvOptions, last: impl FnOnce(usize) -> usize) -> Result<Dataset> {
    let (mut last, mut k) = (Some(last), None);
    let mut count = |w: usize| *k.get_or_insert_with(|| last.take().map_or(0, |f| f(w)));
    let (mut src, mut forced) = (Some(src), Vec::new());
    loop {
        let s = match src.take() {
            Some(s) => s,
            None => open(path)?,
        };
        match read_table(Pass { path, opts, forced: &forced }, s, &mut count)? {
            Ok(ds) => return Ok(ds),
            Err(f) => forced.push(f),
        }
    }
}

/// One pass of [`load`] over a file: its path, how to read it, and the
/// feature columns (from 0) read as categorical from the first row.
#[derive(Clone, Copy)]
struct Pass<'a> {
    path: &'a Path,
    opts: &'a CsvOptions,
    forced: &'a [usize],
}

/// One pass of [`load`]: the dataset, or the feature column to read again
/// as categorical.
fn read_table(
    pass: Pass<'_>,
    src: Source,
    last: &mut dyn FnMut(usize) -> usize,
) -> Result<std::result::Result<Dataset, usize>> {
    let (path, opts) = (pass.path, pass.opts);
    let gz = src.gz;
    let (mut reader, delimiter) = records(path, src, opts.delimiter)?;
    let mut rec = csv::StringRecord::new();
    let (mut table, mut names) = (None::<Table>, None::<Vec<String>>);
    while reader.read_record(&mut rec).map_err(|e| csv_error(path, gz, e))? {
        if rec.iter().all(str::is_empty) {
            continue; // a blank line (or only spaces)
        }
        let pos = rec.position().map_or(0, |p| p.byte());
        if table.is_none() && names.is_none() && !rec.iter().any(|c| matches!(classify(c), Cell::Number(_))) {
            // No numbers: a header, unless a name is missing.
            if let Some(c) = rec.iter().position(|c| classify(c) != Cell::Text) {
                let msg =
                    format!("{} in a line of names (a header's names must all be given)", number(&rec[c]).unwrap_err());
                return Err(Error::format(path, at(path, pos, Some(c + 1)), msg));
            }
            names = Some(rec.iter().map(str::to_string).collect());
            continue;
        }
        let t = match &mut table {
            Some(t) => t,
            None => table.insert(first_row(pass, names.take().unwrap_or_default(), &rec, last)?),
        };
        let first = t.rows == 0 && t.names.is_empty();
        match t.add(&rec) {
            Ok(()) => {}
            Err(AddError::Restart(f)) => return Ok(Err(f)),
            Err(AddError::At(col, msg)) => {
                let hint = if first { " (a header line holds no numbers and no missing values)" } else { "" };
                // The column by its header name too, where there is one.
                let name = col.and_then(|c| t.names.get(c - 1)).map_or(String::new(), |n| format!(" ({n:?})"));
                let location = at(path, pos, col).map(|l| l + &name);
                return Err(Error::format(path, location, format!("{msg}{hint}")));
            }
        }
    }
    match table {
        Some(t) => t.into_dataset(path, delimiter).map(Ok),
        None => Err(Error::format(path, None, "no data rows (the file is empty or holds only a header)")),
    }
}

/// The table that the first data row `rec` (at byte `pos`) starts, under
/// the header `names` (empty without one): its target columns, its id and
/// weight columns, and its feature reader.
fn first_row(
    pass: Pass<'_>,
    names: Vec<String>,
    rec: &csv::StringRecord,
    last: &mut dyn FnMut(usize) -> usize,
) -> Result<Table> {
    let Pass { path, opts, forced } = pass;
    let pos = rec.position().map_or(0, |p| p.byte());
    let width = if names.is_empty() { rec.len() } else { names.len() };
    // A column chosen that the file has not: a usage error.
    let bad = |m: String| Error::bad_choice(path, m);
    let columns = aside_columns(opts.id.as_ref(), opts.weight.as_ref(), &names, width).map_err(bad)?;
    // The caller counts the columns without the id and weight columns.
    let k = last(columns.data_width());
    let cols = target_columns(&opts.targets, &opts.targets_if_named, &columns, k).map_err(bad)?;
    if let Some(i) = cols.iter().find(|&&c| columns.aside(c)) {
        return Err(bad(format!("column {} cannot be both a target and the id or weight column", i + 1)));
    }
    if cols.len() >= columns.data_width() {
        let msg = format!("{width} columns leave no features beside {} target column(s)", cols.len());
        return Err(Error::format(path, at(path, pos, None), msg));
    }
    let is_target = feature_mask(width, &cols, &columns);
    let mut forced = forced.to_vec();
    let categorical = match &opts.cells {
        Cells::Learn { categorical, .. } => &categorical[..],
        _ => &[],
    };
    forced.extend(forced_features(categorical, &columns, &names, &is_target).map_err(bad)?);
    let feature_names: Vec<String> =
        names.iter().enumerate().filter(|(c, _)| !is_target[*c]).map(|(_, n)| n.clone()).collect();
    let n = is_target.iter().filter(|t| !**t).count();
    let reader =
        FeatureReader::new(&opts.cells, n, &feature_names, &forced).map_err(|m| Error::format(path, None, m))?;
    let columns = Columns { names: &[], ..columns };
    Ok(Table::new(names, &columns, cols, is_target, reader))
}
