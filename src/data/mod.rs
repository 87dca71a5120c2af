//! Data: loading a table of examples from CSV or MNIST IDX files (gzipped or
//! not, detected from the content), turning its target columns into what a
//! head trains on, and gathering rows into minibatches.

mod batch;
mod cells;
mod columns;
mod csv;
pub mod encoding;
mod idx;
mod order;

pub use self::csv::{CsvOptions, CsvSource};
pub use batch::Batcher;
pub use cells::{Cells, ColumnSummary};
pub use columns::Column;
pub use encoding::Encoding;
pub use order::{epoch_rng, validation_split};

use crate::error::{Error, Result};
use crate::head::Head;
use crate::mem;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// A table of examples: `rows × features` inputs and `rows × targets` raw
/// target values, as read from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The file it came from.
    pub path: PathBuf,
    /// Number of examples.
    pub rows: usize,
    /// Inputs per example.
    pub features: usize,
    /// Target columns per example (0 for data without targets).
    pub targets: usize,
    /// Inputs, row-major.
    pub x: Vec<f32>,
    /// Raw targets, row-major (class indices for softmax data; NaN where
    /// [`labels`](Self::labels) holds text, until [`index_labels`]).
    pub y: Vec<f32>,
    /// The header's names of the feature columns (empty without a header).
    pub feature_names: Vec<String>,
    /// The header's names of the target columns (empty without a header).
    pub target_names: Vec<String>,
    /// The single target column's cells as written, when any is text (class
    /// names such as `setosa`): [`class_names`] and [`index_labels`] turn
    /// them into class indices.
    pub labels: Option<Vec<String>>,
    /// The id column's cells as written (CSV with [`CsvOptions::id`]).
    pub ids: Option<Vec<String>>,
    /// Each row's weight (CSV with [`CsvOptions::weight`]): finite, ≥ 0.
    pub weights: Option<Vec<f32>>,
    /// How a CSV was read, so that errors about a row name its line (IDX
    /// data has none: its rows are named by number).
    pub csv: Option<CsvSource>,
    /// How the file's feature columns became the inputs, when not as plain
    /// numbers ([`Cells`]): categorical columns one-hot, missing cells
    /// filled.
    pub encoding: Option<Encoding>,
    /// What each feature column of a CSV held (read with [`Cells::Learn`]
    /// or [`Cells::Model`]; empty otherwise).
    pub columns: Vec<ColumnSummary>,
}

/// The file formats [`load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated numbers; a non-numeric first line is a header.
    Csv,
    /// An MNIST `*-images-idx3-ubyte` file with its `*-labels-idx1-ubyte`
    /// beside it; pixels scaled to [0, 1], the label the one target (read
    /// only when the caller asks for a target).
    Idx,
}

/// An open data file: its (decompressed) bytes, size on disk, and whether it
/// is gzipped.
pub(crate) struct Source {
    pub reader: Box<dyn Read>,
    pub size: u64,
    pub gz: bool,
}

/// Opens `path`, decompressing on the fly when it starts with the gzip magic.
pub(crate) fn open(path: &Path) -> Result<Source> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = read_full(&mut r, &mut magic).map_err(|e| Error::io(path, e))?;
    let head = std::io::Cursor::new(magic[..n].to_vec()).chain(r);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Source { reader: Box::new(flate2::read::MultiGzDecoder::new(head)), size, gz: true })
    } else {
        Ok(Source { reader: Box::new(head), size, gz: false })
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A read error, worded for a gzip stream when it is one.
pub(crate) fn read_error(path: &Path, gz: bool, e: std::io::Error) -> Error {
    if gz {
        Error::format(path, None, format!("corrupt gzip stream: {e}"))
    } else {
        Error::io(path, e)
    }
}

/// The format of `path`, from its first bytes (after decompression).
pub fn detect(path: &Path) -> Result<Format> {
    Ok(sniff(path)?.0)
}

/// Opens `path` and tells its format from the first bytes, returning a
/// reader that still yields every byte: the file is read once.
fn sniff(path: &Path) -> Result<(Format, Source)> {
    let Source { mut reader, size, gz } = open(path)?;
    let mut head = [0u8; 4];
    let n = read_full(&mut reader, &mut head).map_err(|e| read_error(path, gz, e))?;
    if n == 0 {
        return Err(Error::format(path, None, "empty file (expected CSV rows or an IDX images file)"));
    }
    // Text never starts with two NUL bytes; an IDX header always does (its
    // magic is 0x0000TTDD), so anything else binary-looking is an IDX file
    // whose magic number the loader will name.
    let format = match head {
        [0, 0, 8, 1] => {
            return Err(Error::format(path, None, "this is an IDX labels file; pass the images file beside it"))
        }
        [0, 0, ..] => Format::Idx,
        _ => Format::Csv,
    };
    let reader = Box::new(std::io::Cursor::new(head[..n].to_vec()).chain(reader));
    Ok((format, Source { reader, size, gz }))
}

/// Loads `path` in whichever format it holds. For CSV the last `targets`
/// columns are targets; IDX data has one target, the label (none, and no
/// labels file read, when `targets` is 0).
pub fn load(path: &Path, targets: usize) -> Result<Dataset> {
    load_with(path, |_| targets)
}

/// Like [`load`], with the CSV target count chosen from the number of
/// columns of the first data row (`targets(columns)`), in the same single
/// pass over the file. A file without data rows is an error.
pub fn load_with(path: &Path, targets: impl FnOnce(usize) -> usize) -> Result<Dataset> {
    load_csv_with(path, &CsvOptions::default(), targets)
}

/// Like [`load_with`], reading a CSV as `opts` says (its delimiter, its
/// target columns by name or position; without chosen columns, the last
/// `targets(columns)`).
pub fn load_csv_with(path: &Path, opts: &CsvOptions, targets: impl FnOnce(usize) -> usize) -> Result<Dataset> {
    let ds = match sniff(path)? {
        (Format::Csv, src) => csv::load(path, src, opts, targets)?,
        (Format::Idx, _) if opts.weight.is_some() => {
            return Err(Error::bad_choice(path, "--weight-column: an IDX file has no columns; weights need a CSV"));
        }
        (Format::Idx, src) => idx::load(path, src, targets)?,
    };
    if ds.rows == 0 {
        return Err(Error::format(path, None, "no data rows"));
    }
    Ok(ds)
}

/// The class names of a dataset whose label column holds text: its
/// distinct labels, sorted (as scikit-learn's `classes_`); `None` for
/// numeric labels.
pub fn class_names(ds: &Dataset) -> Option<Vec<String>> {
    let mut names = ds.labels.clone()?;
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// Sets each row's target to the index of its label in `names` (the
/// labels as written, or, for numeric labels, their values); an error
/// naming the first row whose label is not among them.
pub fn index_labels(ds: &mut Dataset, names: &[String]) -> Result<()> {
    if ds.targets != 1 {
        let msg = format!("class names need exactly one target column, found {}", ds.targets);
        return Err(Error::format(&ds.path, None, msg));
    }
    for r in 0..ds.rows {
        let label = ds.labels.as_ref().map_or_else(|| ds.y[r].to_string(), |l| l[r].clone());
        match names.iter().position(|n| *n == label) {
            Some(i) => ds.y[r] = i as f32,
            None => {
                let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
                let msg = format!("label {label:?} is not one of the classes ({})", shown.join(", "));
                return Err(target_error(ds, r, 0, msg));
            }
        }
    }
    ds.labels = None;
    Ok(())
}

/// The most softmax classes a label may imply on its own (larger counts
/// need `classes` set explicitly).
pub const MAX_IMPLIED_CLASSES: usize = 65_536;

/// The training targets for `head` from a dataset's raw target columns, and
/// the number of outputs they imply.
///
/// - softmax: one column of class indices 0..C-1 (whole numbers), one-hot
///   encoded; C is `classes` or the largest label + 1;
/// - logistic: K columns in [0, 1];
/// - linear: K real columns;
/// - poisson: K columns ≥ 0 (counts, or rates).
pub fn encode_targets(ds: &Dataset, head: Head, classes: Option<usize>) -> Result<(Vec<f32>, usize)> {
    let row_err = |r: usize, c: usize, msg: String| target_error(ds, r, c, msg);
    if let Some(labels) = &ds.labels {
        let r = ds.y.iter().position(|v| v.is_nan()).unwrap_or(0);
        let msg = match head {
            Head::Softmax => "text labels need class names first (data::class_names, data::index_labels)".to_string(),
            _ => format!("the {head} head needs numbers, and the target column holds text; text labels are classes, for the softmax head"),
        };
        return Err(row_err(r, 0, format!("{:?}: {msg}", labels[r])));
    }
    match head {
        Head::Softmax => one_hot_targets(ds, classes),
        Head::Logistic => {
            if let Some(i) = ds.y.iter().position(|v| !(0.0..=1.0).contains(v)) {
                let (r, c) = (i / ds.targets, i % ds.targets);
                return Err(row_err(r, c, format!("logistic targets must lie in [0, 1], got {}", ds.y[i])));
            }
            Ok((copy(&ds.y)?, ds.targets))
        }
        Head::Linear => Ok((copy(&ds.y)?, ds.targets)),
        Head::Poisson => {
            if let Some(i) = ds.y.iter().position(|v| *v < 0.0) {
                let (r, c) = (i / ds.targets, i % ds.targets);
                let msg = format!("poisson targets are counts or rates, never negative, got {}", ds.y[i]);
                return Err(row_err(r, c, msg));
            }
            Ok((copy(&ds.y)?, ds.targets))
        }
    }
}

/// Softmax targets: one column of class indices 0..C-1 (whole numbers)
/// one-hot encoded; C is `classes` or the largest label + 1.
fn one_hot_targets(ds: &Dataset, classes: Option<usize>) -> Result<(Vec<f32>, usize)> {
    let row_err = |r: usize, c: usize, msg: String| target_error(ds, r, c, msg);
    if ds.targets != 1 {
        return Err(Error::format(
            &ds.path,
            None,
            format!("softmax needs exactly one target column of class indices, found {}", ds.targets),
        ));
    }
    let mut max = 0usize;
    for (r, &v) in ds.y.iter().enumerate() {
        if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f32 {
            let msg = format!(
                "expected a class index (a whole number ≥ 0), got {v}; \
                     for a real-valued target, use the linear head (--head linear)"
            );
            return Err(row_err(r, 0, msg));
        }
        max = max.max(v as usize);
    }
    if classes.is_none() {
        looks_like_classes(ds)?;
    }
    let c = classes.unwrap_or(max.saturating_add(1));
    if classes.is_none() && c > MAX_IMPLIED_CLASSES {
        let r = ds.y.iter().position(|&v| v as usize == max).unwrap_or(0);
        let msg = format!(
            "class {max} implies {c} classes, more than {MAX_IMPLIED_CLASSES}; \
                 set the class count (--classes) if that many are meant"
        );
        return Err(row_err(r, 0, msg));
    }
    if c < 2 && classes.is_none() {
        return Err(Error::format(
            &ds.path,
            None,
            "softmax needs at least two classes; every label is 0 (set --classes)",
        ));
    }
    let mut t = mem::zeros(mem::product(ds.rows, c, "one-hot targets")?, "one-hot targets")?;
    for (r, &v) in ds.y.iter().enumerate() {
        let k = v as usize;
        if k >= c {
            return Err(row_err(r, 0, format!("class {k} is not below the class count {c}")));
        }
        t[r * c + k] = 1.0;
    }
    Ok((t, c))
}

/// The most distinct labels a softmax target may have before it is taken
/// for a quantity rather than classes (without an explicit class count).
pub const MAX_DISTINCT_LABELS: usize = 100;

/// Refuses whole-number labels that look like a quantity (a count, grams,
/// a year) rather than classes: more than [`MAX_DISTINCT_LABELS`] distinct
/// values, or at least 20 of which most are seen only once.
fn looks_like_classes(ds: &Dataset) -> Result<()> {
    let mut seen = std::collections::HashMap::<u32, usize>::new();
    for &v in &ds.y {
        *seen.entry(v as u32).or_default() += 1;
    }
    let (distinct, once) = (seen.len(), seen.values().filter(|&&n| n == 1).count());
    if distinct <= MAX_DISTINCT_LABELS && (distinct < 20 || 2 * once <= distinct) {
        return Ok(());
    }
    let how = if distinct > MAX_DISTINCT_LABELS {
        format!("more than {MAX_DISTINCT_LABELS}")
    } else {
        format!("{once} of them seen once")
    };
    let msg = format!(
        "the target column holds {distinct} distinct whole numbers ({how}), which looks like a quantity, not classes; \
         use the linear head (--head linear) to predict it, or set the class count (--classes) to insist on classes"
    );
    Err(Error::format(&ds.path, Some(target_location(ds, None, 0)), msg))
}

/// An error at row `r`, target column `c` (both from 0) of `ds`: for a CSV
/// at its line (the header being line 1, as an editor counts) and its
/// column by position and header name; else at `row R, target column C`.
fn target_error(ds: &Dataset, r: usize, c: usize, msg: String) -> Error {
    Error::format(&ds.path, Some(target_location(ds, Some(r), c)), msg)
}

/// Where row `r` (or the whole column, for `None`) of target column `c` of
/// `ds` is.
fn target_location(ds: &Dataset, r: Option<usize>, c: usize) -> String {
    let name = ds.target_names.get(c).map_or(String::new(), |n| format!(" ({n:?})"));
    let Some(src) = &ds.csv else {
        return match r {
            Some(r) => format!("row {}, target column {}", r + 1, c + 1),
            None => format!("target column {}", c + 1),
        };
    };
    let column = format!("column {}{name}", src.target_columns.get(c).copied().unwrap_or(c + 1));
    match r.map(|r| (r, csv::row_line(&ds.path, src, r))) {
        Some((_, Some(line))) => format!("line {line}, {column}"),
        Some((r, None)) => format!("data row {}, {column}", r + 1),
        None => column,
    }
}

/// A copy of `v`, allocated fallibly.
fn copy(v: &[f32]) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    mem::reserve(&mut out, v.len(), "targets")?;
    out.extend_from_slice(v);
    Ok(out)
}
