"""Reading a model file back as an estimator: one written by ``save``
comes back as it was, one written by ``backprop train`` (or PyTorch) as the
estimator its head implies."""

import json

import numpy as np

from . import _native
from ._mlp import _ACTIVATIONS, CLI_CLASSES_KEY, CLI_FEATURES_KEY, META_KEY, MLPClassifier, MLPRegressor

#: The model file's entry of a table's column encoding (see docs/formats.md).
INPUTS_KEY = "inputs"


def load(path):
    """The estimator in a model file: one saved by ``save`` comes back as it
    was (its class, classes and settings); one written by ``backprop train``
    (or PyTorch) becomes an ``MLPClassifier`` for a softmax or logistic
    head (classes ``0..outputs-1``, or for softmax the class names the CLI
    keeps in the file's ``backprop.classes`` entry, as it read them from
    text labels) or an ``MLPRegressor`` for a linear or Poisson head. Metadata that is
    malformed (not JSON, of the wrong types, or not fitting the network) is
    a ``ValueError`` naming the file."""
    with open(path, "rb") as f:
        data = f.read()
    net, meta = _native.Network.from_bytes(data, str(path))
    try:
        cls, est, state = _estimator(net, meta)
        _check_state(state, cls, net.sizes)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: the model file's backprop metadata is malformed: {e}") from None
    sizes = net.sizes
    est._net = net
    est.n_features_in_ = sizes[0]
    est.n_iter_, est.loss_curve_ = state["n_iter"], [float(v) for v in state["loss_curve"]]
    est.loss_ = est.loss_curve_[-1] if est.loss_curve_ else None
    if "feature_names_in" in state:
        est.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
    if INPUTS_KEY in meta:
        # A CLI model of a table with text columns or filled missing cells:
        # it predicts from a DataFrame of those raw columns.
        est._table_columns = [c["name"] for c in json.loads(meta[INPUTS_KEY])["columns"]]
    if cls is MLPClassifier:
        est.classes_, est._multilabel = np.asarray(state["classes"]), bool(state["multilabel"])
    est._set_fitted_attributes()
    return est


def _estimator(net, meta):
    """The estimator's class, the estimator with its settings, and its
    fitted state, from a model file's network and metadata."""
    inverse = {v: k for k, v in _ACTIVATIONS.items()}
    sizes = net.sizes
    if META_KEY not in meta:
        cls = MLPRegressor if net.head in ("linear", "poisson") else MLPClassifier
        est = cls(hidden_layer_sizes=tuple(sizes[1:-1]), activation=inverse[net.activation])
        if net.head == "poisson":
            est.loss = "poisson"
        classes = list(range(sizes[-1]))
        if net.head == "softmax" and CLI_CLASSES_KEY in meta:
            classes = json.loads(meta[CLI_CLASSES_KEY])
        state = {"n_iter": 0, "loss_curve": [], "classes": classes, "multilabel": net.head == "logistic"}
        if CLI_FEATURES_KEY in meta:
            state["feature_names_in"] = json.loads(meta[CLI_FEATURES_KEY])
        return cls, est, state
    state = json.loads(meta[META_KEY])
    if not isinstance(state, dict) or not isinstance(state.get("params"), dict):
        raise ValueError(f"{META_KEY} is not an object with the estimator's params")
    cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}.get(state.get("estimator"))
    if cls is None:
        raise ValueError(f"unknown estimator {state.get('estimator')!r}")
    params = dict(state["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return cls, cls(**params), state


def _check_state(state, cls, sizes):
    """Raises ValueError unless the fitted state has the types it must and
    fits a network of layer sizes ``sizes``."""
    def need(ok, what):
        if not ok:
            raise ValueError(what)
    need(isinstance(state.get("n_iter"), int) and state["n_iter"] >= 0, "n_iter is not a count")
    curve = state.get("loss_curve")
    need(isinstance(curve, list) and all(isinstance(v, (int, float)) for v in curve), "loss_curve is not numbers")
    names = state.get("feature_names_in")
    need(names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names)
                           and len(names) == sizes[0]), f"feature names do not name the {sizes[0]} inputs")
    if cls is MLPClassifier:
        classes = state.get("classes")
        need(isinstance(classes, list) and len(classes) == sizes[-1] and
             all(isinstance(c, (str, int, float, bool)) for c in classes),
             f"the classes are not a list of {sizes[-1]} labels, one per output")
        need(isinstance(state.get("multilabel"), bool), "multilabel is not true or false")
