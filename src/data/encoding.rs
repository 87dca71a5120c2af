//! A table's feature columns → the network's inputs, learned from the
//! training rows and kept in the model file, so that `train`, `eval`,
//! `predict` and a [`Predictor`](crate::Predictor) read raw cells alike.
//!
//! - A **numeric** column is one input: its value.
//! - A **categorical** column (one holding text, or one chosen) is one input
//!   per category, the categories sorted as text (byte order, as Python
//!   sorts strings): 1 for the row's category, 0 for the others, as
//!   scikit-learn's `OneHotEncoder`. A category unseen in training is an
//!   error, or all zeros with [`Unknown::Ignore`] (`handle_unknown='ignore'`).
//! - A **missing** cell (empty, `NA`, `NaN`, `null`, `?`, …) is an error, or
//!   is filled with the column's value learned from the training rows
//!   ([`Missing`], scikit-learn's `SimpleImputer`).
//!
//! Readers turn each cell into a *code* ([`Encoding::code`]): a numeric
//! cell its value, a categorical cell its category's index, a missing cell
//! NaN, an unknown category [`UNKNOWN`]; [`Encoding::expand`] turns a row
//! of codes into inputs.

use crate::error::{Error, Result};
use std::collections::HashMap;

/// The code of a category unseen in training, read with [`Unknown::Ignore`]:
/// its one-hot inputs are all 0.
pub const UNKNOWN: f32 = -1.0;

/// What fills a missing cell of a feature column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Missing {
    /// Nothing: a missing cell is an error naming its row and column. The
    /// default.
    #[default]
    Error,
    /// A numeric column's mean over the training rows (a text column
    /// cannot have one: an error).
    Mean,
    /// A numeric column's median over the training rows (the mean of the
    /// two middle values for an even count, as NumPy's).
    Median,
    /// The most frequent value or category of the training rows, the
    /// smallest on a tie (as `SimpleImputer(strategy='most_frequent')`).
    MostFrequent,
    /// The mean for a numeric column, the most frequent category for a
    /// categorical one.
    Auto,
}

impl Missing {
    /// Every choice.
    pub const ALL: [Missing; 5] =
        [Missing::Error, Missing::Mean, Missing::Median, Missing::MostFrequent, Missing::Auto];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Missing::Error => "error",
            Missing::Mean => "mean",
            Missing::Median => "median",
            Missing::MostFrequent => "most-frequent",
            Missing::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a category unseen in training becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Unknown {
    /// An error naming the row, the column and the value. The default.
    #[default]
    Error,
    /// All of the column's one-hot inputs 0.
    Ignore,
}

/// How one column becomes inputs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    /// One input, the value; a missing cell becomes `fill`.
    Numeric {
        /// The value of a missing cell (none: a missing cell is an error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<f32>,
    },
    /// One input per category, sorted; a missing cell becomes `fill`.
    Categorical {
        /// The categories seen in training, sorted, distinct.
        categories: Vec<String>,
        /// The category of a missing cell (none: a missing cell is an
        /// error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<String>,
    },
}

/// A feature column: its header name (empty without a header) and kind.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputColumn {
    /// The header's name of the column.
    pub name: String,
    /// How its cells become inputs.
    #[serde(flatten)]
    pub kind: Kind,
}

impl InputColumn {
    /// Inputs the column takes: 1, or its categories.
    pub fn width(&self) -> usize {
        match &self.kind {
            Kind::Numeric { .. } => 1,
            Kind::Categorical { categories, .. } => categories.len(),
        }
    }

    /// Whether the column is categorical.
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, Kind::Categorical { .. })
    }

    /// Whether a missing cell of the column is filled.
    pub fn has_fill(&self) -> bool {
        match &self.kind {
            Kind::Numeric { fill } => fill.is_some(),
            Kind::Categorical { fill, .. } => fill.is_some(),
        }
    }
}

/// The feature columns of a table, in file order, and what an unseen
/// category becomes.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Encoding {
    /// The columns.
    pub columns: Vec<InputColumn>,
    /// What a category unseen in training becomes.
    #[serde(default)]
    pub unknown: Unknown,
}

/// The categories of a column as a reader meets them: each new one gets
/// the next code.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    codes: HashMap<String, u32>,
    names: Vec<String>,
}

impl Dictionary {
    /// The code of `cell`, a new one when unseen; `None` past 2²⁴
    /// categories (codes are exact in f32 below that).
    pub fn code(&mut self, cell: &str) -> Option<f32> {
        if let Some(&c) = self.codes.get(cell) {
            return Some(c as f32);
        }
        let c = u32::try_from(self.names.len()).ok().filter(|&c| c < 1 << 24)?;
        self.codes.insert(cell.to_string(), c);
        self.names.push(cell.to_string());
        Some(c as f32)
    }

    /// The categories in code order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A feature column as read from the training rows: its name and, for a
/// categorical one, its categories in code order.
#[derive(Clone, Debug)]
pub struct ReadColumn {
    /// The header's name (empty without a header).
    pub name: String,
    /// The categories met, for a categorical column.
    pub categories: Option<Dictionary>,
}

impl Encoding {
    /// The encoding of `inputs` numeric columns named `names` (unnamed past
    /// the names given), nothing filled: the inputs are the cells as they
    /// are.
    pub fn plain(names: &[String], inputs: usize) -> Encoding {
        let name = |i: usize| names.get(i).cloned().unwrap_or_default();
        let columns = (0..inputs).map(|i| InputColumn { name: name(i), kind: Kind::Numeric { fill: None } }).collect();
        Encoding { columns, unknown: Unknown::Error }
    }

    /// Inputs a row takes.
    pub fn width(&self) -> usize {
        self.columns.iter().map(InputColumn::width).sum()
    }

    /// Whether the inputs are the cells as they are: every column numeric,
    /// nothing to fill.
    pub fn is_plain(&self) -> bool {
        self.columns.iter().all(|c| matches!(c.kind, Kind::Numeric { fill: None }))
    }

    /// Whether each input is one of a category's 0/1 inputs (which
    /// standardisation leaves alone).
    pub fn one_hot_inputs(&self) -> Vec<bool> {
        self.columns.iter().flat_map(|c| std::iter::repeat_n(c.is_categorical(), c.width())).collect()
    }

    /// The names of the inputs: a numeric column's name, and
    /// `name=category` for each input of a categorical one.
    pub fn input_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(|c| match &c.kind {
                Kind::Numeric { .. } => vec![c.name.clone()],
                Kind::Categorical { categories, .. } => categories.iter().map(|k| format!("{}={k}", c.name)).collect(),
            })
            .collect()
    }

    /// The categorical columns' names.
    pub fn categorical_names(&self) -> Vec<&str> {
        self.columns.iter().filter(|c| c.is_categorical()).map(|c| c.name.as_str()).collect()
    }

    /// Learns the encoding of training rows `coded` (rows × columns, as
    /// read): sorts each categorical column's categories and recodes its
    /// cells, and finds each column's fill as `missing` says from the
    /// cells that are there. An error (a message to place) when a fill
    /// cannot be had: a mean or median of a text column, or a column with
    /// no cell at all.
    pub fn fit(
        columns: Vec<ReadColumn>,
        coded: &mut [f32],
        missing: Missing,
        unknown: Unknown,
    ) -> std::result::Result<Encoding, String> {
        let width = columns.len();
        let mut out = Vec::with_capacity(width);
        for (c, col) in columns.into_iter().enumerate() {
            let kind = match col.categories {
                None => {
                    Kind::Numeric { fill: numeric_fill(coded, width, c, missing).map_err(|m| named(&col.name, c, m))? }
                }
                Some(dict) => {
                    let categories = sort_categories(coded, width, c, dict);
                    let fill =
                        category_fill(coded, width, c, &categories, missing).map_err(|m| named(&col.name, c, m))?;
                    Kind::Categorical { categories, fill }
                }
            };
            out.push(InputColumn { name: col.name, kind });
        }
        Ok(Encoding { columns: out, unknown })
    }

    /// The code of `cell` in column `c` as this encoding reads it (see the
    /// module's docs): an error message when a numeric column holds text, a
    /// category is unseen (with [`Unknown::Error`]) or a cell is missing in
    /// a column without a fill. A missing cell is NaN.
    pub fn code(&self, c: usize, cell: &str, lookup: &CategoryIndex) -> std::result::Result<f32, String> {
        let kind = classify(cell);
        if kind == Cell::Missing {
            if !self.columns[c].has_fill() {
                let what = if cell.is_empty() { "an empty cell".to_string() } else { format!("{cell:?}") };
                return Err(format!(
                    "{what} is a missing value, and the model was trained without --missing, so it has no value to fill it with"
                ));
            }
            return Ok(f32::NAN);
        }
        match &self.columns[c].kind {
            Kind::Numeric { .. } => match kind {
                Cell::Number(v) => Ok(v),
                Cell::Infinite => Err(format!("expected a finite number, got {cell:?}")),
                Cell::Missing | Cell::Text => Err(format!(
                    "expected a number, got {cell:?}: the column was numeric in training (a column is categorical when the training rows hold text in it, or --categorical names it)"
                )),
            },
            Kind::Categorical { categories, .. } => match lookup.get(c, cell) {
                Some(i) => Ok(i as f32),
                None if self.unknown == Unknown::Ignore => Ok(UNKNOWN),
                None => Err(format!(
                    "category {cell:?} was not seen in training (the model knows {}); \
                     pass --unknown-category ignore to read it as none of them",
                    shown(categories)
                )),
            },
        }
    }

    /// The inputs of one row of codes: `out` holds [`width`](Self::width)
    /// values. An error names the column (from 0) of a missing cell that
    /// has no fill.
    pub fn expand(&self, codes: &[f32], out: &mut [f32]) -> std::result::Result<(), usize> {
        let mut at = 0;
        for (c, (col, &v)) in self.columns.iter().zip(codes).enumerate() {
            match &col.kind {
                Kind::Numeric { fill } => {
                    out[at] = if v.is_nan() { fill.ok_or(c)? } else { v };
                    at += 1;
                }
                Kind::Categorical { categories, fill } => {
                    let n = categories.len();
                    out[at..at + n].fill(0.0);
                    let k = match (v.is_nan(), fill) {
                        (false, _) => v,
                        (true, Some(f)) => categories.binary_search(f).map_or(UNKNOWN, |i| i as f32),
                        (true, None) => return Err(c),
                    };
                    if k >= 0.0 {
                        out[at + k as usize] = 1.0;
                    }
                    at += n;
                }
            }
        }
        Ok(())
    }

    /// The inputs of `rows` rows of codes (rows × columns), as a new matrix
    /// (rows × width), or `coded` itself when it already is one. An error
    /// names the row and column (from 0) of a missing cell without a fill.
    pub fn expand_rows(&self, coded: Vec<f32>, rows: usize) -> std::result::Result<Vec<f32>, ExpandError> {
        let (cols, width) = (self.columns.len(), self.width());
        if self.is_plain() {
            return match coded.iter().position(|v| v.is_nan()) {
                Some(i) => Err(ExpandError::Missing { row: i / cols.max(1), column: i % cols.max(1) }),
                None => Ok(coded),
            };
        }
        let n = crate::mem::product(rows, width, "encoded inputs").map_err(ExpandError::Memory)?;
        let mut x = crate::mem::zeros(n, "encoded inputs").map_err(ExpandError::Memory)?;
        for (r, (codes, out)) in coded.chunks_exact(cols.max(1)).zip(x.chunks_exact_mut(width.max(1))).enumerate() {
            self.expand(codes, out).map_err(|column| ExpandError::Missing { row: r, column })?;
        }
        Ok(x)
    }

    /// A check of the encoding read from a model file that has `inputs`
    /// inputs: categories sorted and distinct, fills among them and finite,
    /// the width the network's.
    pub fn check(&self, inputs: usize) -> Result<()> {
        for col in &self.columns {
            match &col.kind {
                Kind::Numeric { fill: Some(f) } if !f.is_finite() => {
                    return Err(Error::config("input encoding", format!("column {:?} fills with {f}", col.name)));
                }
                Kind::Categorical { categories, fill } => {
                    if categories.is_empty() || categories.windows(2).any(|w| w[0] >= w[1]) {
                        let msg = format!("column {:?}: categories are not sorted and distinct", col.name);
                        return Err(Error::config("input encoding", msg));
                    }
                    if let Some(f) = fill.as_ref().filter(|f| categories.binary_search(f).is_err()) {
                        let msg = format!("column {:?} fills with {f:?}, not one of its categories", col.name);
                        return Err(Error::config("input encoding", msg));
                    }
                }
                Kind::Numeric { .. } => {}
            }
        }
        if self.width() != inputs {
            return Err(Error::shape("input encoding", format!("{inputs} inputs"), self.width()));
        }
        Ok(())
    }
}

/// Why rows of codes could not become inputs.
#[derive(Debug)]
pub enum ExpandError {
    /// Row and column (from 0) of a missing cell whose column has no fill.
    Missing {
        /// The row.
        row: usize,
        /// The column.
        column: usize,
    },
    /// The matrix could not be allocated.
    Memory(Error),
}

/// Each categorical column's categories by name, for reading cells against
/// an [`Encoding`] (built once per encoding).
#[derive(Clone, Debug, Default)]
pub struct CategoryIndex(Vec<HashMap<String, u32>>);

impl CategoryIndex {
    /// The index of `enc`'s categories.
    pub fn new(enc: &Encoding) -> CategoryIndex {
        CategoryIndex(
            enc.columns
                .iter()
                .map(|c| match &c.kind {
                    Kind::Categorical { categories, .. } => {
                        categories.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect()
                    }
                    Kind::Numeric { .. } => HashMap::new(),
                })
                .collect(),
        )
    }

    fn get(&self, c: usize, cell: &str) -> Option<u32> {
        self.0.get(c)?.get(cell).copied()
    }
}

/// Whether a cell is a missing value: empty, `NA`, `N/A`, `NaN`, `null`,
/// `None` or `?`, in any case.
pub fn is_missing(cell: &str) -> bool {
    const MISSING: [&str; 7] = ["", "na", "n/a", "nan", "null", "none", "?"];
    MISSING.iter().any(|m| cell.eq_ignore_ascii_case(m))
}

/// What a cell holds, as every reader of cells tells it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell {
    Number(f32),
    /// Empty, a marker tools write for a missing value ([`is_missing`]),
    /// or anything that reads as NaN.
    Missing,
    /// A number too large for f32, or infinite.
    Infinite,
    Text,
}

/// What `cell` holds.
pub(crate) fn classify(cell: &str) -> Cell {
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Cell::Number(v),
        Ok(v) if v.is_nan() => Cell::Missing,
        Ok(_) => Cell::Infinite,
        Err(_) if is_missing(cell) => Cell::Missing,
        Err(_) => Cell::Text,
    }
}

/// `column N ("name")` for a fit's message.
fn named(name: &str, c: usize, msg: String) -> String {
    if name.is_empty() {
        format!("feature column {}: {msg}", c + 1)
    } else {
        format!("feature column {:?}: {msg}", name)
    }
}

/// Up to ten categories, comma-separated.
fn shown(categories: &[String]) -> String {
    let mut s = categories.iter().take(10).map(String::as_str).collect::<Vec<_>>().join(", ");
    if categories.len() > 10 {
        s += &format!(", … {} in all", categories.len());
    }
    s
}

/// Column `c` of rows `width` wide: the values that are there.
fn present(coded: &[f32], width: usize, c: usize) -> impl Iterator<Item = f32> + '_ {
    coded.iter().skip(c).step_by(width.max(1)).copied().filter(|v| !v.is_nan())
}

/// The fill of numeric column `c` as `missing` says; none for
/// [`Missing::Error`] (the reader refused every missing cell).
fn numeric_fill(coded: &[f32], width: usize, c: usize, missing: Missing) -> std::result::Result<Option<f32>, String> {
    if missing == Missing::Error {
        return Ok(None);
    }
    let empty = || format!("every cell is missing, so there is no value to fill them with (--missing {missing})");
    if let Missing::Mean | Missing::Auto = missing {
        let (sum, n) = present(coded, width, c).fold((0.0f64, 0usize), |(s, n), x| (s + f64::from(x), n + 1));
        return if n == 0 { Err(empty()) } else { Ok(Some((sum / n as f64) as f32)) };
    }
    let mut v: Vec<f32> = present(coded, width, c).collect();
    if v.is_empty() {
        return Err(empty());
    }
    v.sort_unstable_by(f32::total_cmp);
    let fill = match missing {
        Missing::Median => {
            let h = v.len() / 2;
            if v.len() % 2 == 1 {
                v[h]
            } else {
                ((f64::from(v[h - 1]) + f64::from(v[h])) / 2.0) as f32
            }
        }
        _ => most_frequent_sorted(&v),
    };
    Ok(Some(fill))
}

/// The most frequent of sorted values, the smallest on a tie.
fn most_frequent_sorted(v: &[f32]) -> f32 {
    let (mut best, mut best_n, mut i) = (v[0], 0, 0);
    while i < v.len() {
        let j = i + v[i..].iter().take_while(|&&x| x == v[i]).count();
        if j - i > best_n {
            (best, best_n) = (v[i], j - i);
        }
        i = j;
    }
    best
}

/// The categories of `dict` sorted, and column `c`'s codes renumbered to
/// match.
fn sort_categories(coded: &mut [f32], width: usize, c: usize, dict: Dictionary) -> Vec<String> {
    let names = dict.names;
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_unstable_by(|&a, &b| names[a].cmp(&names[b]));
    let mut rank = vec![0u32; names.len()];
    order.iter().enumerate().for_each(|(r, &o)| rank[o] = r as u32);
    for v in coded.iter_mut().skip(c).step_by(width.max(1)).filter(|v| !v.is_nan()) {
        *v = rank[*v as usize] as f32;
    }
    order.into_iter().map(|o| names[o].clone()).collect()
}

/// The fill of categorical column `c` (its codes sorted as `categories`)
/// as `missing` says.
fn category_fill(
    coded: &[f32],
    width: usize,
    c: usize,
    categories: &[String],
    missing: Missing,
) -> std::result::Result<Option<String>, String> {
    match missing {
        Missing::Error => Ok(None),
        Missing::Mean | Missing::Median => Err(format!(
            "the column holds text, which has no {missing}; use --missing most-frequent, or auto \
             (the mean of numeric columns, the most frequent category of text ones)"
        )),
        Missing::MostFrequent | Missing::Auto => {
            let mut counts = vec![0usize; categories.len()];
            present(coded, width, c).for_each(|v| counts[v as usize] += 1);
            // The first of the largest counts: the smallest category on a tie.
            let best = (0..counts.len()).fold(None, |b: Option<usize>, i| match b {
                Some(b) if counts[b] >= counts[i] => Some(b),
                _ if counts[i] > 0 => Some(i),
                _ => b,
            });
            match best {
                Some(i) => Ok(Some(categories[i].clone())),
                None => Err(format!(
                    "every cell is missing, so there is no category to fill them with (--missing {missing})"
                )),
            }
        }
    }
}
