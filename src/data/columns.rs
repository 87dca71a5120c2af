//! Which columns of a table are what: targets, chosen by name or position
//! or the last K; the id and weight columns; the feature columns read as
//! categories; each by header name or position from 1, with the error that
//! names what the header has when a choice does not fit it.

use std::ops::RangeInclusive;

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

/// The columns of a file: the header's names (none without a header), how
/// many there are, and the id and weight columns, when there are.
pub(super) struct Columns<'a> {
    pub names: &'a [String],
    pub width: usize,
    pub id: Option<usize>,
    pub weight: Option<usize>,
}

impl Columns<'_> {
    /// Whether column `c` is the id or the weight column.
    pub(super) fn aside(&self, c: usize) -> bool {
        Some(c) == self.id || Some(c) == self.weight
    }

    /// Columns that are neither id nor weight.
    pub(super) fn data_width(&self) -> usize {
        self.width - usize::from(self.id.is_some()) - usize::from(self.weight.is_some())
    }
}

/// The 0-based target columns: `chosen` resolved against the header's
/// names (in the order given), else the columns named `if_named` when the
/// header has them all, else the last `last` but for the id and weight
/// columns.
pub(super) fn target_columns(
    chosen: &[Column],
    if_named: &[String],
    columns: &Columns<'_>,
    last: usize,
) -> Result<Vec<usize>, String> {
    let Columns { names, width, .. } = *columns;
    if chosen.is_empty() {
        let named: Option<Vec<usize>> = if_named.iter().map(|t| names.iter().position(|n| n == t)).collect();
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
fn find_column(names: &[String], n: &str, flag: &str) -> Result<Option<usize>, String> {
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
fn one_column(c: &Column, names: &[String], width: usize, flag: &str) -> Result<usize, String> {
    match c {
        Column::Name(n) if names.is_empty() => Err(format!("{flag} {n:?}: the file has no header line to find it in")),
        Column::Name(n) => find_column(names, n, flag)?
            .ok_or_else(|| format!("{flag} {n:?}: no such column in the header ({})", names.join(", "))),
        Column::Positions(r) if r.start() == r.end() && *r.end() <= width => Ok(r.end() - 1),
        Column::Positions(r) => Err(format!("{flag} {}: expected one column of the {width}", r.end())),
    }
}

/// The `id` and `weight` columns in rows `width` wide under the header
/// `names`; an error when they are one column.
pub(super) fn aside_columns<'a>(
    id: Option<&Column>,
    weight: Option<&Column>,
    names: &'a [String],
    width: usize,
) -> Result<Columns<'a>, String> {
    let id = id.map(|c| one_column(c, names, width, "--id-column")).transpose()?;
    let weight = weight.map(|c| one_column(c, names, width, "--weight-column")).transpose()?;
    if let (Some(i), Some(w)) = (id, weight) {
        if i == w {
            return Err(format!("column {} cannot be both the id column and the weight column", i + 1));
        }
    }
    Ok(Columns { names, width, id, weight })
}

/// Which of `width` columns are no features: the targets, the id and the
/// weight column.
pub(super) fn feature_mask(width: usize, targets: &[usize], columns: &Columns<'_>) -> Vec<bool> {
    let mut is_target = vec![false; width];
    targets.iter().chain(&columns.id).chain(&columns.weight).for_each(|&c| is_target[c] = true);
    is_target
}

/// The feature columns (from 0, among the features) that `categorical`
/// names, in rows of `columns` whose non-features `is_target` marks.
pub(super) fn forced_features(
    categorical: &[Column],
    columns: &Columns<'_>,
    names: &[String],
    is_target: &[bool],
) -> Result<Vec<usize>, String> {
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
