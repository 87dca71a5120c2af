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
use super::encoding::{is_missing, ExpandError};
use super::{open, read_error, Dataset, Source};
use crate::error::{Error, Result};
use crate::mem;
use std::io::Read;
use std::ops::RangeInclusive;
use std::path::Path;

/// A target column chosen by name (from the header) or by its 1-based
/// position (or a range of positions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// The header's name.
    Name(String),
    /// Columns `a..=b`, counted from 1.
    Positions(RangeInclusive<usize>),
}

impl Column {
    /// `NAME`, `INDEX` or `FIRST-LAST` (positions from 1): digits are a
    /// position, two runs of digits around `-` a range, anything else a
    /// name.
    pub fn parse(s: &str) -> Column {
        let pos = |t: &str| t.parse::<usize>().ok().filter(|&p| p >= 1 && t.bytes().all(|b| b.is_ascii_digit()));
        if let Some(p) = pos(s) {
            return Column::Positions(p..=p);
        }
        match s.split_once('-').map(|(a, b)| (pos(a), pos(b))) {
            Some((Some(a), Some(b))) if a <= b => Column::Positions(a..=b),
            _ => Column::Name(s.to_string()),
        }
    }
}

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

/// What a cell holds.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Number(f32),
    /// Empty, or a marker tools write for a missing value.
    Missing,
    /// A number too large for f32, or infinite.
    Infinite,
    Text,
}

fn classify(cell: &str) -> Cell {
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Cell::Number(v),
        Ok(v) if v.is_nan() => Cell::Missing,
        Ok(_) => Cell::Infinite,
        Err(_) if is_missing(cell) => Cell::Missing,
        Err(_) => Cell::Text,
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

/// The columns of a file: the header's names (none without a header), how
/// many there are, and the id and weight columns, when there are.
struct Columns<'a> {
    names: &'a [String],
    width: usize,
    id: Option<usize>,
    weight: Option<usize>,
}

impl Columns<'_> {
    /// Whether column `c` is the id or the weight column.
    fn aside(&self, c: usize) -> bool {
        Some(c) == self.id || Some(c) == self.weight
    }

    /// Columns that are neither id nor weight.
    fn data_width(&self) -> usize {
        self.width - usize::from(self.id.is_some()) - usize::from(self.weight.is_some())
    }
}

/// The 0-based target columns: `opts.targets` resolved against the
/// header's names (in the order given), else the columns named
/// `opts.targets_if_named` when the header has them all, else the last
/// `last` but for the id and weight columns.
fn target_columns(opts: &CsvOptions, columns: &Columns<'_>, last: usize) -> std::result::Result<Vec<usize>, String> {
    let Columns { names, width, .. } = *columns;
    let chosen = &opts.targets;
    if chosen.is_empty() {
        let named: Option<Vec<usize>> =
            opts.targets_if_named.iter().map(|t| names.iter().position(|n| n == t)).collect();
        return Ok(match named {
            Some(cols) if !cols.is_empty() => cols,
            _ => {
                let mut cols: Vec<usize> = (0..width).rev().filter(|&c| !columns.aside(c)).take(last).collect();
                cols.reverse();
                cols
            }
        });
    }
    let mut cols = Vec::new();
    for c in chosen {
        match c {
            Column::Name(n) if names.is_empty() => {
                return Err(format!("--target {n:?}: the file has no header line to find it in"));
            }
            Column::Name(n) => match find_column(names, n, "--target")? {
                Some(i) => cols.push(i),
                None => return Err(format!("--target {n:?}: no such column; the header has {}", names.join(", "))),
            },
            Column::Positions(r) if *r.end() > width => {
                return Err(format!("--target {}: the rows have {width} columns", r.end()));
            }
            Column::Positions(r) => cols.extend(r.clone().map(|p| p - 1)),
        }
    }
    if let Some(d) = cols.iter().enumerate().find(|(i, c)| cols[..*i].contains(c)).map(|(_, c)| c) {
        return Err(format!("column {} is chosen as a target twice", d + 1));
    }
    Ok(cols)
}

/// The 0-based column named `n` in the header `names`, if any; an error
/// naming both positions (from 1) when two columns have that name, since
/// either could be meant. `flag` is the option that asked.
fn find_column(names: &[String], n: &str, flag: &str) -> std::result::Result<Option<usize>, String> {
    let mut at = names.iter().enumerate().filter(|(_, h)| *h == n).map(|(i, _)| i);
    match (at.next(), at.next()) {
        (Some(a), Some(b)) => Err(format!(
            "{flag} {n:?}: the header names two columns {n:?}, {} and {}; rename one, or choose by position ({flag} {})",
            a + 1,
            b + 1,
            a + 1
        )),
        (first, _) => Ok(first),
    }
}

/// The 0-based column `c` names in rows `width` wide under the header
/// `names`: one column, by name or position, for the option `flag`
/// (`--id-column`, `--weight-column`).
fn one_column(c: &Column, names: &[String], width: usize, flag: &str) -> std::result::Result<usize, String> {
    match c {
        Column::Name(n) if names.is_empty() => Err(format!("{flag} {n:?}: the file has no header line to find it in")),
        Column::Name(n) => find_column(names, n, flag)?
            .ok_or_else(|| format!("{flag} {n:?}: no such column in the header ({})", names.join(", "))),
        Column::Positions(r) if r.start() == r.end() && *r.end() <= width => Ok(r.end() - 1),
        Column::Positions(r) => Err(format!("{flag} {}: expected one column of the {width}", r.end())),
    }
}

/// A row weight: a finite number ≥ 0.
fn weight(cell: &str) -> std::result::Result<f32, String> {
    match number(cell) {
        Ok(v) if v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("a row weight must be ≥ 0, got {v}")),
        Err(m) => Err(format!("{m} (a row weight)")),
    }
}

/// The id and weight columns `opts` names in rows `width` wide under the
/// header `names`; an error when they are one column.
fn aside_columns<'a>(opts: &CsvOptions, names: &'a [String], width: usize) -> std::result::Result<Columns<'a>, String> {
    let id = opts.id.as_ref().map(|c| one_column(c, names, width, "--id-column")).transpose()?;
    let weight = opts.weight.as_ref().map(|c| one_column(c, names, width, "--weight-column")).transpose()?;
    if let (Some(i), Some(w)) = (id, weight) {
        if i == w {
            return Err(format!("column {} cannot be both the id column and the weight column", i + 1));
        }
    }
    Ok(Columns { names, width, id, weight })
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
    labels: Vec<String>,
    text: bool,
    rows: usize,
    /// The id column, and its cells.
    id: Option<usize>,
    ids: Vec<String>,
    /// The weight column, and its values.
    weight: Option<usize>,
    weights: Vec<f32>,
    reader: FeatureReader,
}

/// Why a row could not be added.
enum AddError {
    /// What is wrong, at a column (from 1) when one is to blame.
    At(Option<usize>, String),
    /// A feature column (from 0) holds text after numbers.
    Restart(usize),
}

impl Table {
    /// A table of rows `width` wide; `is_target` is also set for the id
    /// and weight columns, which are no features either.
    fn new(names: Vec<String>, columns: &Columns<'_>, targets: Vec<usize>, reader: FeatureReader) -> Table {
        let (width, id, weight) = (columns.width, columns.id, columns.weight);
        let is_target = feature_mask(width, &targets, columns);
        let (x, y, labels, ids) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
                self.labels.push(cell.to_string());
            }
        }
        if let Some(c) = self.id {
            self.ids.push(cells[c].to_string());
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
            labels: self.text.then_some(self.labels),
            ids: self.id.map(|_| self.ids),
            weights: self.weight.map(|_| self.weights),
            csv: Some(CsvSource { delimiter, header, target_columns }),
            encoding,
            columns,
        })
    }
}

/// Which of `width` columns are no features: the targets, the id and the
/// weight column.
fn feature_mask(width: usize, targets: &[usize], columns: &Columns<'_>) -> Vec<bool> {
    let mut is_target = vec![false; width];
    targets.iter().chain(&columns.id).chain(&columns.weight).for_each(|&c| is_target[c] = true);
    is_target
}

/// The feature columns (from 0, among the features) that `opts` makes
/// categorical, in rows of `columns` whose non-features `is_target` marks.
fn forced_features(
    opts: &CsvOptions,
    columns: &Columns<'_>,
    names: &[String],
    is_target: &[bool],
) -> std::result::Result<Vec<usize>, String> {
    let Cells::Learn { categorical, .. } = &opts.cells else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for c in categorical {
        let col = one_column(c, names, columns.width, "--categorical")?;
        if is_target[col] {
            return Err(format!(
                "--categorical: column {} is a target, the id or the weight column, not a feature",
                col + 1
            ));
        }
        out.push(is_target[..col].iter().filter(|t| !**t).count());
    }
    Ok(out)
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
    let columns = aside_columns(opts, &names, width).map_err(bad)?;
    // The caller counts the columns without the id and weight columns.
    let k = last(columns.data_width());
    let cols = target_columns(opts, &columns, k).map_err(bad)?;
    if let Some(i) = cols.iter().find(|&&c| columns.aside(c)) {
        return Err(bad(format!("column {} cannot be both a target and the id or weight column", i + 1)));
    }
    if cols.len() >= columns.data_width() {
        let msg = format!("{width} columns leave no features beside {} target column(s)", cols.len());
        return Err(Error::format(path, at(path, pos, None), msg));
    }
    let is_target = feature_mask(width, &cols, &columns);
    let mut forced = forced.to_vec();
    forced.extend(forced_features(opts, &columns, &names, &is_target).map_err(bad)?);
    let feature_names: Vec<String> =
        names.iter().enumerate().filter(|(c, _)| !is_target[*c]).map(|(_, n)| n.clone()).collect();
    let n = is_target.iter().filter(|t| !**t).count();
    let reader =
        FeatureReader::new(&opts.cells, n, &feature_names, &forced).map_err(|m| Error::format(path, None, m))?;
    let columns = Columns { names: &[], ..columns };
    Ok(Table::new(names, &columns, cols, reader))
}
