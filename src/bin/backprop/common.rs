//! What the subcommands share: value parsers, the bundled data, scoring a
//! model on a dataset, JSON fields of scores, and writing to stdout.

use crate::Failure;
use backprop::data::Dataset;
use backprop::metrics::{Metrics, Scores};
use backprop::{Head, LabeledRows, Mlp, Predictor};
use serde_json::{Map, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `line` and a newline to standard output. A closed pipe is
/// [`Failure::broken_pipe`], which ends the program quietly.
pub fn say(line: impl std::fmt::Display) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(Failure::from)
}

/// A whole number ≥ 1.
pub fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number ≥ 1, got {s:?}")),
    }
}

/// A batch size: 1 to `TrainConfig::MAX_BATCH_SIZE`.
pub fn batch_size(s: &str) -> Result<usize, String> {
    let max = backprop::TrainConfig::MAX_BATCH_SIZE;
    match positive(s)? {
        n if n > max => Err(format!("at most {max} rows per batch, got {n}")),
        n => Ok(n),
    }
}

/// A thread count: 1 to `TrainConfig::MAX_THREADS`.
pub fn threads(s: &str) -> Result<usize, String> {
    let max = backprop::TrainConfig::MAX_THREADS;
    match positive(s)? {
        n if n > max => Err(format!("at most {max} threads, got {n}")),
        n => Ok(n),
    }
}

/// A comma-separated list of thread counts.
pub fn thread_list(s: &str) -> Result<Sizes, String> {
    s.split(',').map(|p| threads(p).map_err(|e| format!("{e} (in {s:?})"))).collect::<Result<_, _>>().map(Sizes)
}

/// A comma-separated list of whole numbers ≥ 1 (hidden widths, layer sizes).
#[derive(Clone, Debug, PartialEq)]
pub struct Sizes(pub Vec<usize>);

pub fn sizes(s: &str) -> Result<Sizes, String> {
    s.split(',').map(|p| positive(p).map_err(|e| format!("{e} (in {s:?})"))).collect::<Result<_, _>>().map(Sizes)
}

fn number(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("expected a number, got {s:?}"))
}

/// A finite number ≥ 0 (learning rate, weight decay, ε).
pub fn non_negative(s: &str) -> Result<f64, String> {
    match number(s)? {
        v if v.is_finite() && v >= 0.0 => Ok(v),
        v => Err(format!("must be a finite number ≥ 0, got {v}")),
    }
}

/// A finite number > 0 (clip norm, γ).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match number(s)? {
        v if v.is_finite() && v > 0.0 => Ok(v),
        v => Err(format!("must be a finite number > 0, got {v}")),
    }
}

/// A number in [0, 1) (momentum, β).
pub fn unit_interval(s: &str) -> Result<f64, String> {
    match number(s)? {
        v if (0.0..1.0).contains(&v) => Ok(v),
        v => Err(format!("must be in [0, 1), got {v}")),
    }
}

/// A whole number ≥ 1, 64-bit (step counts).
pub fn positive_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number ≥ 1, got {s:?}")),
    }
}

/// A fraction strictly between 0 and 1.
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("expected a fraction between 0 and 1, got {s:?}")),
    }
}

/// A class count ≥ 2.
pub fn classes(s: &str) -> Result<usize, String> {
    match positive(s)? {
        1 => Err("a softmax needs at least 2 classes".into()),
        n => Ok(n),
    }
}

/// The bundled MNIST digits: `data/mnist10k/{train,test}-images-idx3-ubyte.gz`
/// under the current folder, else under the crate's own folder.
pub fn bundled(split: &str) -> PathBuf {
    let rel = PathBuf::from(format!("data/mnist10k/{split}-images-idx3-ubyte.gz"));
    if rel.is_file() {
        return rel;
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel);
    if built.is_file() {
        built
    } else {
        rel
    }
}

/// The target columns a data file has for a model whose head is `head` with
/// `outputs` outputs, when the user did not say: one class column for
/// softmax, one column per output otherwise.
pub fn default_targets(head: Head, outputs: usize) -> usize {
    if head == Head::Softmax {
        1
    } else {
        outputs
    }
}

/// Rows to score: inputs `x`, encoded targets `t` and (when given) weights
/// `w`, `rows` of each.
pub struct Labeled<'a> {
    pub x: &'a [f32],
    pub t: &'a [f32],
    pub w: Option<&'a [f32]>,
    pub rows: usize,
}

/// Scores a predictor's network (whose head is `head` and outputs `o`) on
/// `data`.
pub fn score(p: &mut Predictor, head: Head, o: usize, data: Labeled<'_>) -> backprop::Result<Scores> {
    Ok(score_outputs(p, head, o, data)?.0)
}

/// [`score`], and the outputs (rows × o) it scored.
pub fn score_outputs(
    p: &mut Predictor,
    head: Head,
    o: usize,
    data: Labeled<'_>,
) -> backprop::Result<(Scores, Vec<f32>)> {
    let Labeled { x, t, w, rows } = data;
    let mut y = backprop::mem::zeros(backprop::mem::product(rows, o, "outputs")?, "outputs")?;
    let mut loss = backprop::mem::zeros(rows, "losses")?;
    p.predict_with_loss(LabeledRows { x, t, rows }, &mut y, &mut loss)?;
    let mut m = Metrics::new(head, o);
    m.add_batch(&y, t, &loss, w);
    Ok((m.scores(), y))
}

/// Checks that a dataset's features match the model's inputs.
pub fn check_features(ds: &Dataset, mlp: &Mlp, model: &Path) -> Result<(), backprop::Error> {
    if ds.features != mlp.inputs() {
        return Err(backprop::Error::format(
            &ds.path,
            None,
            format!(
                "{} features per row, but the model {} takes {} inputs",
                ds.features,
                model.display(),
                mlp.inputs()
            ),
        ));
    }
    Ok(())
}

/// The JSON fields of a set of scores: `rows`, `loss`, then `accuracy`
/// (and `label_accuracy` for logistic) or `rmse` and `r2`, each name after `prefix`. Non-finite numbers become
/// `null`.
pub fn json_scores(s: &Scores, prefix: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(format!("{prefix}rows"), s.rows.into());
    let fields = [
        ("loss", Some(s.loss)),
        ("accuracy", s.accuracy),
        ("label_accuracy", s.label_accuracy),
        ("rmse", s.rmse),
        ("r2", s.r2),
    ];
    for (name, v) in fields {
        if let Some(v) = v {
            m.insert(format!("{prefix}{name}"), v.into());
        }
    }
    m
}

/// Scores as text: `loss 0.2345  accuracy 93.25%` or `loss …  rmse …  r2 …`.
pub fn text_scores(s: &Scores, prefix: &str) -> String {
    let mut t = format!("{prefix}loss {:.4}", s.loss);
    if let Some(a) = s.accuracy {
        t += &format!("  {prefix}accuracy {:.2}%", 100.0 * a);
    }
    if let Some(a) = s.label_accuracy {
        t += &format!("  {prefix}label_accuracy {:.2}%", 100.0 * a);
    }
    if let Some(r) = s.rmse {
        t += &format!("  {prefix}rmse {r:.4}");
    }
    if let Some(r) = s.r2 {
        t += &format!("  {prefix}r2 {r:.4}");
    }
    t
}
