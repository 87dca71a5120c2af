//! What a run says of itself beyond its epochs' lines: the summary at its
//! start, and, when it diverges, what the files hold and what to try.

use super::Session;
use crate::train::config::Held;
use crate::train::data::Split;
use crate::Failure;
use backprop::model::Scaling;
use backprop::Head;
use std::io::Write;

impl Session {
    /// The start-of-run summary, on standard error: the data, what is held
    /// out (or that nothing is), the network, the optimizer, the threads;
    /// for a resumed run, where it continues.
    pub(super) fn summary(&self) -> Result<(), Failure> {
        if self.quiet {
            return Ok(());
        }
        let (f, o) = (self.trainer.mlp().inputs(), self.outputs);
        let what = match (self.cfg.head, &self.names.classes) {
            (Head::Softmax, Some(c)) => {
                let shown: Vec<&str> = c.iter().take(8).map(String::as_str).collect();
                format!("{o} classes ({}{})", shown.join(", "), if c.len() > 8 { ", …" } else { "" })
            }
            (Head::Softmax, None) => format!("{o} classes"),
            (_, _) => format!("{o} target column{}", if o == 1 { "" } else { "s" }),
        };
        let (rows, data) = (self.train.rows, self.cfg.data.display());
        let mut lines = vec![format!("data: {rows} rows × {f} features from {data}, {what}{}", self.weights_note())];
        lines.push(match (self.cfg.held(), &self.held) {
            (Held::Test(p), Some(h)) => format!("held out: {} rows from {}", h.rows, p.display()),
            (Held::Val(v), Some(h)) => format!("held out: {} rows ({v} of the data, seeded)", h.rows),
            _ => "held out: none (no scores on unseen rows; --test FILE or --val-split F gives them)".to_string(),
        });
        let mlp = self.trainer.mlp();
        let layers: Vec<String> = mlp.sizes().iter().map(|s| s.to_string()).collect();
        lines.push(format!(
            "network: {}, {} hidden, {} head, {} parameters; {} lr {}, batch {}, {} epochs; {} thread{}, SIMD {}{}",
            layers.join("-"),
            mlp.activation(),
            mlp.head(),
            mlp.params().len(),
            self.trainer.optimizer_name(),
            self.cfg.lr,
            self.batch(),
            self.cfg.epochs,
            self.trainer.threads(),
            if self.trainer.threads() == 1 { "" } else { "s" },
            backprop::simd_path().name(),
            precision_note(self.cfg.precision)
        ));
        lines.push(scaling_line(mlp.scaling(), mlp.head(), &self.train.t));
        if self.written.1 {
            lines.push(format!(
                "resuming {} at epoch {}, batch {} (step {})",
                self.cfg.checkpoint.display(),
                self.st.epoch,
                self.st.batch + 1,
                self.trainer.steps() + 1
            ));
        }
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let _ = std::io::stderr().write_all(text.as_bytes());
        Ok(())
    }

    /// What the summary says of the row weights (nothing without them).
    fn weights_note(&self) -> String {
        let (Some(w), Some(col)) = (&self.train.w, &self.cfg.weight_column) else {
            return String::new();
        };
        let total = w.iter().fold(0.0, |acc, &v| acc + f64::from(v));
        let zeros = w.iter().filter(|&&v| v == 0.0).count();
        format!("; rows weighted by column {col:?} (total weight {total}, {zeros} rows of weight 0)")
    }

    /// The error for a non-finite loss or gradient: what the files hold
    /// (nothing is written after it), and what to try.
    pub(super) fn diverged(&self, e: backprop::Error) -> Failure {
        let files = match self.written {
            (None, false) => "nothing was written (the run stopped before its first epoch ended)".to_string(),
            (model, ck) => {
                let model = model.map(|m| format!("{} holds the model of epoch {m}", self.cfg.out.display()));
                let ck = ck.then(|| format!("{} the state to resume from", self.cfg.checkpoint.display()));
                model.into_iter().chain(ck).collect::<Vec<_>>().join(" and ")
            }
        };
        let msg = format!(
            "epoch {}, step {}: {e}; training stopped; {files}; {}",
            self.st.epoch,
            self.trainer.steps() + 1,
            divergence_hint(&self.train, self.cfg.head, self.cfg.lr, self.trainer.mlp().scaling())
        );
        // Every rank has the same loss and gradients, so the same failure.
        Failure::from(backprop::Error::config("diverged", msg)).shared()
    }
}

/// Values reaching beyond this are far from unit size: scaling them is
/// worth a hint.
const FAR_FROM_UNIT: f32 = 10.0;

/// The largest magnitude in `v` when it is unscaled, 0 when `scaled`.
fn raw_reach(v: &[f32], scaled: bool) -> f32 {
    if scaled {
        return 0.0;
    }
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// The summary's scaling line: what is standardised, with a hint when a
/// linear head's raw targets `t` are far from unit size (as raw inputs get
/// the hint of `--standardize`).
fn scaling_line(scaling: &Scaling, head: Head, t: &[f32]) -> String {
    let mut line = match scaling.name() {
        Some(what) => format!("scaling: {what} standardised (mean and deviation of the training rows)"),
        None => "scaling: none (--standardize scales the inputs)".to_string(),
    };
    let reach = raw_reach(t, scaling.targets.is_some());
    if head == Head::Linear && reach > FAR_FROM_UNIT {
        line += &format!("; the targets reach {reach:.3e}: --standardize-targets trains on them at unit size");
    }
    line
}

/// What to try after a run diverged: scaling, when the inputs (or a linear
/// head's targets) are far from unit size, and a smaller learning rate.
fn divergence_hint(train: &Split, head: Head, lr: f64, scaling: &Scaling) -> String {
    let x = raw_reach(&train.x, scaling.inputs.is_some());
    let t = if head == Head::Linear { raw_reach(&train.t, scaling.targets.is_some()) } else { 0.0 };
    let scale = match (x > FAR_FROM_UNIT, t > FAR_FROM_UNIT) {
        (_, true) => format!(
            "the targets reach {t:.3e} and the inputs {x:.3e}: scale them to about unit size (--standardize-targets, --standardize), or "
        ),
        (true, false) => format!("the inputs reach {x:.3e}: scale them to about unit size (--standardize), or "),
        _ => String::new(),
    };
    format!("{scale}try a smaller --lr than {lr}")
}

/// What the summary says of the products' precision (nothing in fp32).
fn precision_note(precision: backprop::Precision) -> String {
    let mode = backprop::kernels::gemm::Mode::of(precision);
    match precision {
        backprop::Precision::Fp32 => String::new(),
        _ if mode.native_bf16() => format!(", products in {precision} (AVX512-BF16)"),
        _ => format!(
            ", products in {precision} emulated on the {} path (no AVX512-BF16 here: bf16's results, at fp32's speed or below)",
            mode.path
        ),
    }
}
