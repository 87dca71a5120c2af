//! A plain f64 MLP written straight from the equations: the oracle the
//! engine's losses and gradients are checked against. It is itself checked
//! by central finite differences (tests/it/reference.rs).
#![allow(dead_code)]

pub mod cli;
pub mod kernels;
pub mod mat;

use backprop::{Activation, Head, Mlp};

/// Parameters in f64, `w[l]` in × out row-major.
#[derive(Clone)]
pub struct RefMlp {
    pub sizes: Vec<usize>,
    pub act: Activation,
    pub head: Head,
    pub w: Vec<Vec<f64>>,
    pub b: Vec<Vec<f64>>,
}

fn f(act: Activation, s: f64) -> f64 {
    match act {
        Activation::Sigmoid => 1.0 / (1.0 + (-s).exp()),
        Activation::Tanh => s.tanh(),
        Activation::Relu => s.max(0.0),
    }
}

fn df_from_h(act: Activation, h: f64) -> f64 {
    match act {
        Activation::Sigmoid => h * (1.0 - h),
        Activation::Tanh => 1.0 - h * h,
        Activation::Relu => (h > 0.0) as u8 as f64,
    }
}

fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

impl RefMlp {
    pub fn from_mlp(m: &Mlp) -> Self {
        let mut w = vec![];
        let mut b = vec![];
        for l in 0..m.num_layers() {
            let layer = m.layer(l).unwrap();
            w.push(layer.weight.iter().map(|&v| v as f64).collect());
            b.push(layer.bias.iter().map(|&v| v as f64).collect());
        }
        RefMlp { sizes: m.sizes().to_vec(), act: m.activation(), head: m.head(), w, b }
    }

    /// Activations of every layer; the last entry holds the logits.
    pub fn forward(&self, x: &[f64], rows: usize) -> Vec<Vec<f64>> {
        let mut hs = vec![x.to_vec()];
        let layers = self.sizes.len() - 1;
        for l in 0..layers {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let prev = &hs[l];
            let mut s = vec![0.0; rows * o];
            for r in 0..rows {
                for j in 0..o {
                    let mut acc = self.b[l][j];
                    for k in 0..i {
                        acc += prev[r * i + k] * self.w[l][k * o + j];
                    }
                    s[r * o + j] = if l + 1 < layers { f(self.act, acc) } else { acc };
                }
            }
            hs.push(s);
        }
        hs
    }

    /// Outputs y and the error of each row from the logits.
    pub fn head_rows(&self, s: &[f64], t: &[f64], rows: usize) -> (Vec<f64>, Vec<f64>) {
        let o = *self.sizes.last().unwrap();
        let mut y = vec![0.0; rows * o];
        let mut e = vec![0.0; rows];
        for r in 0..rows {
            let (sr, tr) = (&s[r * o..(r + 1) * o], &t[r * o..(r + 1) * o]);
            match self.head {
                Head::Softmax => {
                    let m = sr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + sr.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    for j in 0..o {
                        y[r * o + j] = (sr[j] - lse).exp();
                        e[r] -= tr[j] * (sr[j] - lse);
                    }
                }
                Head::Logistic => {
                    for j in 0..o {
                        y[r * o + j] = 1.0 / (1.0 + (-sr[j]).exp());
                        e[r] += softplus(sr[j]) - tr[j] * sr[j];
                    }
                }
                Head::Linear => {
                    for j in 0..o {
                        y[r * o + j] = sr[j];
                        e[r] += 0.5 * (sr[j] - tr[j]).powi(2);
                    }
                }
                Head::Poisson => {
                    for j in 0..o {
                        y[r * o + j] = sr[j].exp();
                        e[r] += sr[j].exp() - tr[j] * sr[j];
                    }
                }
            }
        }
        (y, e)
    }

    /// Mean error over the rows.
    pub fn loss(&self, x: &[f64], t: &[f64], rows: usize) -> f64 {
        let hs = self.forward(x, rows);
        let (_, e) = self.head_rows(hs.last().unwrap(), t, rows);
        e.iter().sum::<f64>() / rows as f64
    }

    /// Mean error and its gradient (dW, db per layer) by backpropagation.
    pub fn grad(&self, x: &[f64], t: &[f64], rows: usize) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        self.grad_weighted(x, t, &vec![1.0; rows], rows)
    }

    /// The weighted mean error `Σ w E / Σ w` and its gradient.
    pub fn grad_weighted(&self, x: &[f64], t: &[f64], w: &[f64], rows: usize) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let hs = self.forward(x, rows);
        let layers = self.sizes.len() - 1;
        let (y, e) = self.head_rows(&hs[layers], t, rows);
        let o = self.sizes[layers];
        let total: f64 = w.iter().sum();
        let mut delta: Vec<f64> = y.iter().zip(t).enumerate().map(|(i, (y, t))| w[i / o] * (y - t) / total).collect();
        let mut gw = vec![vec![]; layers];
        let mut gb = vec![vec![]; layers];
        for l in (0..layers).rev() {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let h = &hs[l];
            let mut dw = vec![0.0; i * o];
            let mut db = vec![0.0; o];
            for r in 0..rows {
                for j in 0..o {
                    db[j] += delta[r * o + j];
                    for k in 0..i {
                        dw[k * o + j] += h[r * i + k] * delta[r * o + j];
                    }
                }
            }
            if l > 0 {
                let mut below = vec![0.0; rows * i];
                for r in 0..rows {
                    for k in 0..i {
                        let mut acc = 0.0;
                        for j in 0..o {
                            acc += delta[r * o + j] * self.w[l][k * o + j];
                        }
                        below[r * i + k] = acc * df_from_h(self.act, h[r * i + k]);
                    }
                }
                delta = below;
            }
            gw[l] = dw;
            gb[l] = db;
        }
        (e.iter().zip(w).map(|(e, w)| e * w).sum::<f64>() / total, gw, gb)
    }
}

/// Random inputs in [-1, 1] and targets suited to the head: one-hot for
/// softmax, probabilities for logistic, reals for linear, counts for
/// Poisson.
pub fn batch(head: Head, rows: usize, inputs: usize, outputs: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = backprop::rng::Rng::new(seed);
    let x = (0..rows * inputs).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut t = vec![0.0f32; rows * outputs];
    for r in 0..rows {
        match head {
            Head::Softmax => t[r * outputs + rng.below(outputs as u64) as usize] = 1.0,
            Head::Logistic => t[r * outputs..(r + 1) * outputs].iter_mut().for_each(|v| *v = rng.next_f32()),
            Head::Linear => t[r * outputs..(r + 1) * outputs].iter_mut().for_each(|v| *v = rng.uniform(-2.0, 2.0)),
            Head::Poisson => t[r * outputs..(r + 1) * outputs].iter_mut().for_each(|v| *v = rng.below(5) as f32),
        }
    }
    (x, t)
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A fresh empty folder under the system's temporary folder, named after
/// `tag`, this process and a counter.
pub fn scratch(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "backprop-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// |got - want| ≤ 1e-4·max(|want|, 1% of the tensor's largest |want|).
pub fn assert_rel(what: &str, got: &[f32], want: &[f64]) {
    let top = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * w.abs().max(1e-2 * top).max(1e-30);
        assert!((g as f64 - w).abs() <= tol, "{what}[{i}]: engine {g:e}, oracle {w:e}");
    }
}

/// Every layer's weight and bias gradients of the trainer's last step
/// against the oracle's `gw` and `gb`, as [`assert_rel`].
pub fn assert_gradients(what: &str, tr: &backprop::Trainer, gw: &[Vec<f64>], gb: &[Vec<f64>]) {
    for (l, (gw, gb)) in gw.iter().zip(gb).enumerate() {
        let g = tr.gradient(l).unwrap();
        assert_rel(&format!("{what} dW{l}"), g.weight, gw);
        assert_rel(&format!("{what} db{l}"), g.bias, gb);
    }
}

/// Zeroes about four in five of the inputs of rows `rows` of `x` (`inputs`
/// values a row), as in MNIST's digits, so that a shard holding only such
/// rows takes the products that skip zeros.
pub fn sparsify(x: &mut [f32], inputs: usize, rows: std::ops::Range<usize>, seed: u64) {
    let mut rng = backprop::rng::Rng::new(seed);
    for v in &mut x[rows.start * inputs..rows.end * inputs] {
        if rng.next_f32() < 0.8 {
            *v = 0.0;
        }
    }
}

/// A network of `sizes` with `act` hidden, `head` out, seeded.
pub fn mlp(sizes: &[usize], act: Activation, head: Head, seed: u64) -> Mlp {
    Mlp::builder()
        .input(sizes[0])
        .hidden_layers(&sizes[1..sizes.len() - 1])
        .activation(act)
        .head(head, sizes[sizes.len() - 1])
        .seed(seed)
        .build()
        .unwrap()
}

/// A model file's contents but the record of the flags that made it
/// (`backprop.training`): the file written again without that entry. Runs
/// with different flags that must train the same model (`--target 1` and
/// `--target species`) compare these; runs with the same flags compare
/// their files whole.
pub fn model_content(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mlp = Mlp::from_safetensors(&bytes, path).unwrap();
    let mut meta = backprop::model::safetensors_metadata(&bytes, path).unwrap();
    assert!(meta.contains_key("backprop.training"), "{} has no training settings", path.display());
    meta.retain(|k, _| k.starts_with("backprop.") && k != "backprop.training");
    mlp.to_safetensors_with(&meta).unwrap()
}
