//! Which columns of a CSV are targets (`--target`, `--delimiter`), and the
//! names a model keeps from its training data: the classes (sorted text
//! labels, as scikit-learn's `classes_`) and the target columns' header
//! names, in the model file's metadata, so that `eval` and `predict` read
//! labels and name columns as training did.

use crate::Failure;
use backprop::data::encoding::Unknown;
use backprop::data::{self, Cells, Column, CsvOptions, Dataset, Encoding};
use backprop::{Head, Mlp};
use std::collections::BTreeMap;
use std::path::Path;

/// The metadata key of the class names (a JSON list).
const CLASSES_KEY: &str = "backprop.classes";
/// The metadata key of the target columns' names (a JSON list).
const TARGETS_KEY: &str = "backprop.targets";
/// The metadata key of the feature columns' names, in the order of the
/// network's inputs (a JSON list).
pub const FEATURES_KEY: &str = "backprop.features";

/// The CSV flags `train`, `eval` and `predict` share.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CsvArgs {
    /// CSV: a target column, by header name or position from 1 (or a range FIRST-LAST); repeat for more
    /// [default: the last --targets columns]
    #[arg(long, value_name = "NAME|INDEX", conflicts_with = "targets")]
    pub target: Vec<String>,
    /// CSV: the cell separator, `,` `;` or `tab` [default: sniffed from the first line]
    #[arg(long, value_name = "C", value_parser = delimiter)]
    pub delimiter: Option<char>,
    /// CSV: a column of row weights (sample weights, finite and ≥ 0), by header name or position from 1;
    /// not a feature. Training minimises the weighted mean error and every score is weighted
    #[arg(long, value_name = "NAME|INDEX")]
    pub weight_column: Option<String>,
    /// CSV: what a category not seen in training becomes: an error naming its line and column, or
    /// `ignore` (all of its column's one-hot inputs 0) [default: as the model was trained: error]
    #[arg(long, value_enum, value_name = "HOW")]
    pub unknown_category: Option<Unknown>,
}

/// `,` `;` `tab` (or a tab character), or another single ASCII character.
fn delimiter(s: &str) -> Result<char, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok('\t'),
        _ => match s.chars().collect::<Vec<_>>()[..] {
            [c] if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '"' => Ok(c),
            _ => Err(format!("expected one character such as , ; or tab, got {s:?}")),
        },
    }
}

/// How to read a CSV with these flags (the target and weight columns they
/// name).
pub fn csv_options(args: &CsvArgs) -> CsvOptions {
    CsvOptions {
        delimiter: args.delimiter.map(|c| c as u8),
        targets: args.target.iter().map(|t| Column::parse(t)).collect(),
        targets_if_named: Vec::new(),
        id: None,
        weight: args.weight_column.as_deref().map(Column::parse),
        cells: Cells::Numbers,
    }
}

/// How to read a file scored against a model: the target columns the
/// flags name, else the model's target names when the file's header has
/// them all, else the last K; the feature columns as the model reads them
/// (`encoding`, else numbers named as `names` says).
pub fn scored_options(args: &CsvArgs, names: &Names, encoding: Option<&Encoding>, inputs: usize) -> CsvOptions {
    let mut enc = names.columns(encoding, inputs);
    if let Some(u) = args.unknown_category {
        enc.unknown = u;
    }
    CsvOptions { targets_if_named: names.targets.clone(), cells: Cells::Model(enc), ..csv_options(args) }
}

/// The names a model keeps from its training data.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    /// The classes, when the labels were text (softmax).
    pub classes: Option<Vec<String>>,
    /// The target columns' header names (empty without a header).
    pub targets: Vec<String>,
    /// The feature columns' header names, in input order (empty without a
    /// header): files with a header are matched to them by name.
    #[serde(default)]
    pub features: Vec<String>,
}

impl Names {
    /// The metadata entries of a model file.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let json = |v: &[String]| serde_json::to_string(v).expect("a list of strings serializes");
        let mut m = BTreeMap::new();
        if let Some(c) = &self.classes {
            m.insert(CLASSES_KEY.to_string(), json(c));
        }
        if !self.targets.is_empty() {
            m.insert(TARGETS_KEY.to_string(), json(&self.targets));
        }
        if !self.features.is_empty() {
            m.insert(FEATURES_KEY.to_string(), json(&self.features));
        }
        m
    }

    /// A model's names from its metadata; an error naming the file when an
    /// entry is not a list of strings (or the class list does not fit the
    /// model).
    fn from_metadata(meta: &BTreeMap<String, String>, mlp: &Mlp, path: &Path) -> Result<Names, backprop::Error> {
        let list = |key: &str| -> Result<Option<Vec<String>>, backprop::Error> {
            meta.get(key)
                .map(|v| serde_json::from_str::<Vec<String>>(v))
                .transpose()
                .map_err(|e| backprop::Error::format(path, None, format!("metadata {key}: {e}")))
        };
        let classes = list(CLASSES_KEY)?;
        if let Some(c) = classes.as_ref().filter(|c| c.len() != mlp.outputs() || mlp.head() != Head::Softmax) {
            let msg = format!(
                "metadata {CLASSES_KEY} names {} classes for a {} head of {}",
                c.len(),
                mlp.head(),
                mlp.outputs()
            );
            return Err(backprop::Error::format(path, None, msg));
        }
        let features = list(FEATURES_KEY)?.unwrap_or_default();
        if !features.is_empty() && features.len() != mlp.inputs() {
            let msg = format!("metadata {FEATURES_KEY} names {} features for {} inputs", features.len(), mlp.inputs());
            return Err(backprop::Error::format(path, None, msg));
        }
        Ok(Names { classes, targets: list(TARGETS_KEY)?.unwrap_or_default(), features })
    }

    /// The names of `ds`, the training data of a model whose class names
    /// are `fixed` when it continues one (from `--init` or a checkpoint):
    /// its labels are mapped to them (or, when text and none are fixed, to
    /// their sorted list).
    pub fn of_training(ds: &mut Dataset, head: Head, fixed: Option<Vec<String>>) -> Result<Names, backprop::Error> {
        let classes = match fixed {
            Some(c) => Some(c),
            None if head == Head::Softmax => data::class_names(ds),
            None => None,
        };
        if let Some(c) = &classes {
            data::index_labels(ds, c)?;
        }
        Ok(Names { classes, targets: ds.target_names.clone(), features: ds.feature_names.clone() })
    }

    /// How a model of `inputs` inputs reads a table's columns: its
    /// `encoding`, else each input a numeric column under these feature
    /// names (by position without names).
    pub fn columns(&self, encoding: Option<&Encoding>, inputs: usize) -> Encoding {
        encoding.cloned().unwrap_or_else(|| Encoding::plain(&self.features, inputs))
    }

    /// Maps the labels of `ds` (held-out or evaluation data) to the
    /// classes, when there are names.
    pub fn index(&self, ds: &mut Dataset) -> Result<(), backprop::Error> {
        match &self.classes {
            Some(c) => data::index_labels(ds, c),
            None => Ok(()),
        }
    }
}

/// A model file and its names.
pub fn read_model(path: &Path) -> Result<(Mlp, Names), Failure> {
    read_model_metadata(path).map(|(mlp, names, _)| (mlp, names))
}

/// A model file, its names and every entry of its metadata, from one read.
pub fn read_model_metadata(path: &Path) -> Result<(Mlp, Names, BTreeMap<String, String>), Failure> {
    let bytes = std::fs::read(path).map_err(|e| backprop::Error::io(path, e))?;
    let mlp = Mlp::from_safetensors(&bytes, path)?;
    let meta = backprop::model::safetensors_metadata(&bytes, path)?;
    let names = Names::from_metadata(&meta, &mlp, path)?;
    Ok((mlp, names, meta))
}
