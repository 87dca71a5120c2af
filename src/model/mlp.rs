//! The multilayer perceptron: sizes, activation, head and one flat buffer of
//! parameters, layer after layer `W (in × out, row-major)` then `b (out)`.

use super::init;
use super::scaling::Scaling;
use crate::data::Encoding;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::layers::Activation;
use crate::layout::{count_params, layer_ranges};

/// A dense MLP `sizes[0] → sizes[1] → … → sizes[L]`: hidden layers apply
/// `activation`, the last layer feeds `head`. It may carry the
/// standardisation of its inputs and targets ([`Scaling`]), which inference
/// applies and training leaves to the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    activation: Activation,
    head: Head,
    params: Vec<f32>,
    scaling: Scaling,
    encoding: Option<Encoding>,
}

/// One layer's parameters: `weight` is `inputs × outputs` row-major (row i
/// holds the weights leaving input i), `bias` has `outputs` values.
#[derive(Clone, Copy, Debug)]
pub struct LayerRef<'a> {
    /// `W`, `inputs × outputs`, row-major.
    pub weight: &'a [f32],
    /// `b`, `outputs` values.
    pub bias: &'a [f32],
    /// Rows of `W`.
    pub inputs: usize,
    /// Columns of `W`.
    pub outputs: usize,
}

/// One layer's parameters, mutable (see [`LayerRef`]).
#[derive(Debug)]
pub struct LayerMut<'a> {
    /// `W`, `inputs × outputs`, row-major.
    pub weight: &'a mut [f32],
    /// `b`, `outputs` values.
    pub bias: &'a mut [f32],
    /// Rows of `W`.
    pub inputs: usize,
    /// Columns of `W`.
    pub outputs: usize,
}

impl Mlp {
    /// A builder with the defaults: sigmoid hidden units, softmax head,
    /// seed 0.
    pub fn builder() -> MlpBuilder {
        MlpBuilder::default()
    }

    /// A network from its parts (for loading): `params` must hold exactly the
    /// parameters `sizes` call for, all finite.
    pub fn from_parts(sizes: Vec<usize>, activation: Activation, head: Head, params: Vec<f32>) -> Result<Mlp> {
        validate_sizes(&sizes)?;
        let n = count_params(&sizes).ok_or_else(|| Error::config("layers", "too many parameters"))?;
        if params.len() != n {
            return Err(Error::shape("parameters", n, params.len()));
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::non_finite(format!("parameter {i}")));
        }
        Ok(Mlp { sizes, activation, head, params, scaling: Scaling::default(), encoding: None })
    }

    /// The network reading a table's columns by `encoding` (none: its
    /// inputs are given as they are), which must give as many inputs as it
    /// has.
    pub fn with_encoding(mut self, encoding: Option<Encoding>) -> Result<Mlp> {
        if let Some(e) = &encoding {
            e.check(self.inputs())?;
        }
        self.encoding = encoding;
        Ok(self)
    }

    /// How a table's columns become the inputs, when the model was trained
    /// from one with categorical columns or missing cells filled.
    pub fn encoding(&self) -> Option<&Encoding> {
        self.encoding.as_ref()
    }

    /// The network with `scaling`: the inputs' standardiser must have one
    /// column per input, the targets' one per output, and only a linear
    /// head's targets can be scaled.
    pub fn with_scaling(mut self, scaling: Scaling) -> Result<Mlp> {
        if let Some(s) = &scaling.inputs {
            s.check(self.inputs(), "input scaling")?;
        }
        if let Some(s) = &scaling.targets {
            if self.head != Head::Linear {
                return Err(Error::config("target scaling", format!("only for the linear head, not {}", self.head)));
            }
            s.check(self.outputs(), "target scaling")?;
        }
        self.scaling = scaling;
        Ok(self)
    }

    /// What the network standardises (nothing unless
    /// [`with_scaling`](Self::with_scaling) said so).
    pub fn scaling(&self) -> &Scaling {
        &self.scaling
    }

    /// Layer sizes: inputs, each hidden width, outputs.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        *self.sizes.last().expect("an Mlp has at least two sizes")
    }

    /// Number of dense layers (hidden layers + 1).
    pub fn num_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The hidden units' activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The output head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// All parameters, layer after layer `W` then `b`.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// All parameters, mutable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Layer `l` (0 = the one reading the inputs), or `None` past the last.
    pub fn layer(&self, l: usize) -> Option<LayerRef<'_>> {
        (l < self.num_layers()).then(|| {
            let (w, b) = layer_ranges(&self.sizes, l);
            LayerRef {
                weight: &self.params[w],
                bias: &self.params[b],
                inputs: self.sizes[l],
                outputs: self.sizes[l + 1],
            }
        })
    }

    /// Layer `l`, mutable, or `None` past the last.
    pub fn layer_mut(&mut self, l: usize) -> Option<LayerMut<'_>> {
        if l >= self.num_layers() {
            return None;
        }
        let (w, b) = layer_ranges(&self.sizes, l);
        let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
        let (head, tail) = self.params.split_at_mut(b.start);
        Some(LayerMut { weight: &mut head[w], bias: &mut tail[..outputs], inputs, outputs })
    }

    /// Writes the head's outputs for `rows` rows of `x` (rows × inputs) into
    /// `out` (rows × outputs): probabilities for softmax and logistic, values
    /// for linear. A one-off on the calling thread: it packs the weights and
    /// allocates buffers for this call alone. For repeated calls, or on
    /// several threads, keep a [`Predictor`](super::Predictor).
    pub fn predict(&self, x: &[f32], rows: usize, out: &mut [f32]) -> Result<()> {
        super::Predictor::with_threads(self, 1)?.predict(x, rows, out)
    }
}

fn validate_sizes(sizes: &[usize]) -> Result<()> {
    if sizes.len() < 2 {
        return Err(Error::config("layers", "a network needs an input size and an output size"));
    }
    if let Some(i) = sizes.iter().position(|&s| s == 0) {
        let what = match i {
            0 => "input size".to_string(),
            i if i == sizes.len() - 1 => "output size".to_string(),
            i => format!("hidden layer {i} width"),
        };
        return Err(Error::config(what, "must be at least 1"));
    }
    Ok(())
}

/// Builds an [`Mlp`] with seeded initial weights: Glorot/Xavier uniform
/// `U(±√(6/(in+out)))` for sigmoid and tanh networks, He uniform
/// `U(±√(6/in))` for ReLU, biases zero.
#[derive(Clone, Debug, Default)]
pub struct MlpBuilder {
    input: Option<usize>,
    hidden: Vec<usize>,
    activation: Activation,
    head: Option<(Head, usize)>,
    seed: u64,
}

impl MlpBuilder {
    /// Number of inputs.
    pub fn input(mut self, n: usize) -> Self {
        self.input = Some(n);
        self
    }

    /// Appends a hidden layer of `n` units.
    pub fn hidden(mut self, n: usize) -> Self {
        self.hidden.push(n);
        self
    }

    /// Appends hidden layers of these widths.
    pub fn hidden_layers(mut self, widths: &[usize]) -> Self {
        self.hidden.extend_from_slice(widths);
        self
    }

    /// The hidden units' activation (default sigmoid).
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// The output head and the number of outputs.
    pub fn head(mut self, head: Head, outputs: usize) -> Self {
        self.head = Some((head, outputs));
        self
    }

    /// Seed of the initial weights (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the sizes and draws the initial weights.
    pub fn build(self) -> Result<Mlp> {
        let input = self.input.ok_or_else(|| Error::config("input size", "not set (call .input(n))"))?;
        let (head, outputs) = self.head.ok_or_else(|| Error::config("head", "not set (call .head(head, outputs))"))?;
        let mut sizes = vec![input];
        sizes.extend_from_slice(&self.hidden);
        sizes.push(outputs);
        validate_sizes(&sizes)?;
        let n = count_params(&sizes).ok_or_else(|| Error::config("layers", "too many parameters"))?;
        let mut params = crate::mem::zeros(n, "parameters")?;
        init::init_params(&sizes, self.activation, self.seed, &mut params);
        Ok(Mlp { sizes, activation: self.activation, head, params, scaling: Scaling::default(), encoding: None })
    }
}
