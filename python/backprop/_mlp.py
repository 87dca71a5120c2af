"""`MLPClassifier` and `MLPRegressor`: scikit-learn's estimators of the same
names, trained by the backprop engine."""

import functools
import json
import numbers
import os
import sys
import threading
import warnings

import numpy as np

from . import _native
from ._docs import _DOC_PARAMS
from ._compat import (
    BaseEstimator,
    ClassifierMixin,
    ConvergenceWarning,
    DataConversionWarning,
    HAVE_SKLEARN,
    NotFittedError,
    RegressorMixin,
    check_classification_targets,
    check_is_fitted,
    type_of_target,
    validate_data,
)

def _one_fit_at_a_time(method):
    """Runs ``method`` (``fit`` or ``partial_fit``) holding the estimator's
    fit lock: a second thread's fit on the same estimator waits for the
    first to end instead of mixing their state."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.__dict__.setdefault("_fit_lock", threading.RLock()):
            return method(self, *args, **kwargs)
    return run


#: The most threads the engine takes (as the C ABI's bp_model_set_threads).
MAX_THREADS = 1024

#: scikit-learn's activation names and the engine's.
_ACTIVATIONS = {"logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
#: MLPRegressor's losses and the engine's heads.
_REGRESSION_HEADS = {"squared_error": "linear", "poisson": "poisson"}
#: The engine's heads and scikit-learn's ``out_activation_``.
_OUT_ACTIVATIONS = {"softmax": "softmax", "logistic": "logistic", "linear": "identity", "poisson": "exp"}
#: The metadata entry of a model file that holds the estimator's state.
META_KEY = "backprop.python"
# The class names `backprop train` keeps for text labels (a JSON list).
CLI_CLASSES_KEY = "backprop.classes"
# The feature columns' names, in input order (a JSON list): the command
# line matches the columns of a file with a header to them by name.
CLI_FEATURES_KEY = "backprop.features"



class _BaseMLP(BaseEstimator):
    _head = None  # set per estimator

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None, clip_norm=None,
                 lr_schedule="constant", precision="fp32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.n_threads = n_threads
        self.clip_norm = clip_norm
        self.lr_schedule = lr_schedule
        self.precision = precision

    # -- settings ---------------------------------------------------------

    def _hidden(self):
        h = self.hidden_layer_sizes
        h = [h] if isinstance(h, numbers.Integral) else list(h)
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in h):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return [int(s) for s in h]

    def _check_settings(self):
        """Every setting checked against the engine; a `ValueError` names
        the first it cannot honour."""
        if self.activation == "identity":
            raise ValueError("activation='identity' is not supported by backprop: use 'logistic', 'tanh' or 'relu'")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'logistic', 'tanh' or 'relu', got {self.activation!r}")
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not supported by backprop: use 'adam', 'sgd' or 'adamw'")
        if self.solver not in ("adam", "sgd", "adamw"):
            raise ValueError(f"solver must be 'adam', 'sgd' or 'adamw', got {self.solver!r}")
        if self.learning_rate != "constant":
            raise ValueError(
                f"learning_rate={self.learning_rate!r} is not supported by backprop: use 'constant', and "
                "lr_schedule='cosine' for a decaying rate"
            )
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        checks = [
            ("max_iter", self.max_iter, isinstance(self.max_iter, numbers.Integral) and self.max_iter >= 1),
            ("alpha", self.alpha, isinstance(self.alpha, numbers.Real) and self.alpha >= 0),
            ("learning_rate_init", self.learning_rate_init,
             isinstance(self.learning_rate_init, numbers.Real) and self.learning_rate_init > 0),
            ("tol", self.tol, isinstance(self.tol, numbers.Real) and self.tol >= 0),
            ("momentum", self.momentum, isinstance(self.momentum, numbers.Real) and 0 <= self.momentum < 1),
            ("validation_fraction", self.validation_fraction,
             isinstance(self.validation_fraction, numbers.Real) and 0 < self.validation_fraction < 1),
            ("beta_1", self.beta_1, isinstance(self.beta_1, numbers.Real) and 0 <= self.beta_1 < 1),
            ("beta_2", self.beta_2, isinstance(self.beta_2, numbers.Real) and 0 <= self.beta_2 < 1),
            ("epsilon", self.epsilon, isinstance(self.epsilon, numbers.Real) and self.epsilon > 0),
            ("n_iter_no_change", self.n_iter_no_change,
             isinstance(self.n_iter_no_change, numbers.Integral) and self.n_iter_no_change >= 1),
            ("clip_norm", self.clip_norm,
             self.clip_norm is None or (isinstance(self.clip_norm, numbers.Real) and self.clip_norm > 0)),
            ("batch_size", self.batch_size,
             self.batch_size == "auto" or (isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1)),
        ]
        for name, value, ok in checks:
            if not ok:
                raise ValueError(f"{name}={value!r} is out of range for {type(self).__name__}")
        self._hidden()
        self._threads()

    def _threads(self):
        """The engine's threads: ``n_threads``; with None, the share of the
        cores a joblib (or OpenMP) worker is given in ``OMP_NUM_THREADS``,
        as PyTorch and OpenBLAS take it, else 0 (every core)."""
        n = self.n_threads
        if n is None:
            share = os.environ.get("OMP_NUM_THREADS", "").strip()
            return int(share) if share.isdigit() and 1 <= int(share) <= MAX_THREADS else 0
        if not (isinstance(n, numbers.Integral) and 1 <= n <= MAX_THREADS):
            raise ValueError(f"n_threads={n!r} is out of range for {type(self).__name__}: "
                             f"expected None or 1 to {MAX_THREADS}")
        return int(n)

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return min(int(self.batch_size), n)

    def _seed(self):
        rs = self.random_state
        if rs is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(rs, numbers.Integral):
            return int(rs) % 2**64
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        raise ValueError(f"random_state must be an int, a numpy RandomState or None, got {rs!r}")

    def _new_fit(self, rows, epochs, batch):
        return _native.Fit(
            self._net, batch, total_steps=epochs * -(-rows // batch), shuffle=bool(self.shuffle),
            seed=self._seed_value, solver=self.solver, lr=float(self.learning_rate_init),
            momentum=float(self.momentum) if self.solver == "sgd" else 0.0,
            nesterov=bool(self.nesterovs_momentum and self.solver == "sgd" and self.momentum > 0),
            weight_decay=float(self.alpha) / batch, decay_per_weight=float(self.alpha), beta1=float(self.beta_1),
            beta2=float(self.beta_2),
            eps=float(self.epsilon), schedule=self.lr_schedule, clip_norm=self.clip_norm,
            threads=self._threads(), precision=self.precision,
        )

    # -- fitting ----------------------------------------------------------

    def _initialize(self, n_features, n_outputs):
        sizes = [n_features, *self._hidden(), n_outputs]
        self._net = _native.Network(sizes, _ACTIVATIONS[self.activation], self._head_name, self._seed_value)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _fit(self, X, T, incremental, y=None, w=None):
        """Epochs over X and the encoded targets T (float32, C order) with
        the rows' weights `w` (float32, or None); `y` (the targets as given)
        scores the validation rows."""
        X, T, w, val = self._prepare(X, T, w, incremental, y)
        epochs, best = (1 if incremental else int(self.max_iter)), None
        for _ in range(epochs):
            loss = self._fit_state.epoch(X, T, w) + self._penalty(X.shape[0], w)
            self._net = self._fit_state.network()
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            best = self._score_epoch(loss, val, best)
            if incremental:
                break
            if self._no_improvement_count > self.n_iter_no_change:
                if self.verbose:
                    what = "Validation score" if val is not None else "Training loss"
                    print(f"{what} did not improve more than tol={self.tol} for {self.n_iter_no_change} "
                          "consecutive epochs. Stopping.")
                break
        else:
            if not incremental:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                    "hasn't converged yet.",
                    ConvergenceWarning,
                )
        if best is not None:
            self._net.set_params(best)
        self._set_fitted_attributes()
        return self

    def _prepare(self, X, T, w, incremental, y):
        """The network (new, or the fitted one when continuing), the
        validation rows split off (with early stopping), and the trainer:
        partial_fit keeps it (and the optimizer's state) while its batch
        holds the call's, ``min(batch_size, rows)`` as scikit-learn's."""
        self._check_settings()
        if not hasattr(self, "_net") or not (self.warm_start or incremental):
            self._seed_value = self._seed()
            self._initialize(X.shape[1], T.shape[1])
        elif self._net.sizes != [X.shape[1], *self._hidden(), T.shape[1]]:
            raise ValueError(
                f"the fitted network has layers {self._net.sizes}, but this data and hidden_layer_sizes need "
                f"{[X.shape[1], *self._hidden(), T.shape[1]]}"
            )
        elif self._net.head != self._head_name:
            raise ValueError(f"the fitted network has a {self._net.head} head, but these settings need a "
                             f"{self._head_name} head; fit anew without warm_start")
        val = None
        if self.early_stopping and not incremental:
            keep, held = _native.validation_split(X.shape[0], float(self.validation_fraction), self._seed_value)
            val = (X[held], np.asarray(y)[held], None if w is None else w[held])
            X, T = np.ascontiguousarray(X[keep]), np.ascontiguousarray(T[keep])
            w = None if w is None else np.ascontiguousarray(w[keep])
        batch = self._batch(X.shape[0])
        if not incremental or getattr(self, "_fit_state", None) is None or batch > self._fit_batch:
            epochs = 1 if incremental else int(self.max_iter)
            self._fit_state, self._fit_batch = self._new_fit(X.shape[0], epochs, batch), batch
        return X, T, w, val

    def _score_epoch(self, loss, val, best):
        """scikit-learn's bookkeeping after an epoch: the no-improvement
        count from the validation score (early stopping) or the training
        loss; returns the best epoch's parameters so far (early stopping)."""
        if val is None:
            worse = loss > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        else:
            self._set_fitted_attributes()
            score = self.score(val[0], val[1], sample_weight=val[2])
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            worse = score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_, best = score, self._net.params()
        self._no_improvement_count = self._no_improvement_count + 1 if worse else 0
        return best

    def _penalty(self, rows, w=None):
        """scikit-learn's L2 term of the epoch loss: ``½·alpha·ΣW²`` per
        batch, averaged over the rows, or with sample weights divided by
        their total (from the epoch's last weights)."""
        if self.alpha == 0:
            return 0.0
        sq = sum(float(np.dot(c.ravel(), c.ravel())) for c in self._weights()[0])
        total = rows if w is None else float(np.sum(w, dtype=np.float64))
        return 0.5 * self.alpha * sq * -(-rows // self._fit_batch) / total

    def _weights(self):
        sizes, p = self._net.sizes, self._net.params()
        coefs, intercepts, at = [], [], 0
        for i, o in zip(sizes[:-1], sizes[1:]):
            coefs.append(p[at:at + i * o].reshape(i, o))
            intercepts.append(p[at + i * o:at + i * o + o].copy())
            at += i * o + o
        return coefs, intercepts

    def _set_fitted_attributes(self):
        self.coefs_, self.intercepts_ = self._weights()
        self.n_layers_ = len(self._net.sizes)
        self.n_outputs_ = self._net.sizes[-1]
        self.out_activation_ = _OUT_ACTIVATIONS[self._net.head]

    def _forward(self, X):
        check_is_fitted(self, "coefs_")
        table = getattr(self, "_table_columns", None)
        precision = getattr(self, "precision", "fp32")
        if table is not None and hasattr(X, "columns") and any(c in X.columns for c in table):
            return self._net.predict_cells(_table_cells(X, table), self._threads(), precision)
        X = validate_data(self, X, reset=False)
        return self._net.predict(X, self._threads(), precision)

    # -- files, pickling --------------------------------------------------

    def _state_meta(self):
        state = {"estimator": type(self).__name__, "params": _json_params(self.get_params()),
                 "n_iter": self.n_iter_, "loss_curve": self.loss_curve_}
        if hasattr(self, "feature_names_in_"):
            state["feature_names_in"] = [str(f) for f in self.feature_names_in_]
        state.update(self._target_meta())
        meta = {META_KEY: json.dumps(state)}
        if "feature_names_in" in state:
            meta[CLI_FEATURES_KEY] = json.dumps(state["feature_names_in"])
        meta.update(self._cli_meta())
        return meta

    def _cli_meta(self):
        """The entries the command line reads besides the model's own."""
        return {}

    def save(self, path):
        """Writes the model as the command line's safetensors model file
        (usable by ``backprop predict``/``eval``, the C ABI and PyTorch),
        with this estimator's classes and settings in its metadata."""
        check_is_fitted(self, "coefs_")
        self._net.save(str(path), self._state_meta())

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fit_state", None)  # the optimizer's state is not kept: a later partial_fit starts it anew
        state.pop("_fit_batch", None)
        state.pop("_fit_lock", None)
        if "_net" in state:
            state["_net"] = self._net.to_bytes({})
        return state

    def __setstate__(self, state):
        if "_net" in state:
            state["_net"], _ = _native.Network.from_bytes(state["_net"], "<pickle>")
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _sample_weight(sample_weight, X):
    """``sample_weight`` as a float32 array of one finite weight ≥ 0 per
    row of X, not all 0 (None stays None); a ValueError says what is
    wrong."""
    if sample_weight is None:
        return None
    n = X.shape[0]
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n, sample_weight)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight must be finite (it holds NaN or infinity)")
    if np.any(w < 0):
        raise ValueError("sample_weight must be ≥ 0: negative weights are not supported")
    if not np.any(w > 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return np.ascontiguousarray(w, dtype=np.float32)


def _require_y(est, y):
    if y is None:
        raise ValueError(f"{type(est).__name__} requires y to be passed, but the target y is None.")


def _json_params(params):
    out = {}
    for k, v in params.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, np.floating):
            v = float(v)
        elif isinstance(v, tuple):
            v = list(v)
        try:
            json.dumps(v)
        except TypeError:
            continue  # a RandomState: not kept
        out[k] = v
    return out


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = ("Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` on the backprop engine.\n\n"
               "One label column trains a softmax head (``classes_`` any labels, sorted as numpy sorts them);\n"
               "a 0/1 indicator matrix trains independent logistic outputs (multi-label).\n" + _DOC_PARAMS)

    def _encode(self, y, reset):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                          "to (n_samples, ), for example using ravel().", DataConversionWarning, stacklevel=3)
            y = y.ravel()
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multilabel-indicator":
            if reset:
                self.classes_, self._multilabel = np.arange(y.shape[1]), True
            elif not self._multilabel or y.shape[1] != len(self.classes_):
                raise ValueError("partial_fit labels do not match the labels of the first fit")
            return np.ascontiguousarray(y, dtype=np.float32)
        if reset:
            self.classes_, self._multilabel = np.unique(y), False
        elif self._multilabel:
            raise ValueError("the estimator was fitted on a multi-label indicator matrix; y is one label column")
        idx = np.searchsorted(self.classes_, y)
        if np.any(idx >= len(self.classes_)) or np.any(self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y):
            unknown = np.setdiff1d(y, self.classes_)
            raise ValueError(f"y contains labels not in classes_: {unknown[:5].tolist()}")
        T = np.zeros((len(y), len(self.classes_)), dtype=np.float32)
        T[np.arange(len(y)), idx] = 1.0
        return T

    @property
    def _head_name(self):
        return "logistic" if self._multilabel else "softmax"

    @_one_fit_at_a_time
    def fit(self, X, y, sample_weight=None):
        """Trains from scratch (or from the current weights with
        ``warm_start``) for up to ``max_iter`` epochs; returns self.
        ``sample_weight`` (one finite weight ≥ 0 a row) makes the objective
        the weighted mean loss, as scikit-learn's."""
        _require_y(self, y)
        X, y = validate_data(self, X, y, reset=True, multi_output=True)
        w = _sample_weight(sample_weight, X)
        T = self._encode(y, reset=True)
        y = np.asarray(y)
        return self._fit(X, T, incremental=False, y=y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y, w=w)

    @_one_fit_at_a_time
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), keeping the optimizer's state between
        calls; ``classes`` is needed on the first call."""
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y = validate_data(self, X, y, reset=first, multi_output=True)
        if first:
            self.classes_, self._multilabel = np.unique(classes), type_of_target(y) == "multilabel-indicator"
            if self._multilabel:
                self.classes_ = np.arange(np.shape(y)[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={list(classes)}` is not the same as on last call to partial_fit, "
                             f"was: {list(self.classes_)}")
        w = _sample_weight(sample_weight, X)
        T = self._encode(y, reset=False)
        return self._fit(X, T, incremental=True, w=w)

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes)."""
        return self._forward(X).astype(np.float64)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        p = self._forward(X)
        if self._multilabel:
            return (p > 0.5).astype(int)
        return self.classes_[np.argmax(p, axis=1)]

    def _target_meta(self):
        return {"classes": self.classes_.tolist(), "multilabel": bool(self._multilabel)}

    def _cli_meta(self):
        # The classes as the command line names them (a numeric label by
        # its value), so that `backprop eval` and `predict` read text labels.
        if self._multilabel:
            return {}
        return {CLI_CLASSES_KEY: json.dumps([str(c) for c in self.classes_.tolist()])}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = ("Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` on the backprop engine; y 1-D or\n"
               "2-D.\n\n"
               "    loss : {'squared_error', 'poisson'}, default 'squared_error'\n"
               "        'squared_error': a linear head, half the squared error. 'poisson': an exponential head\n"
               "        ``y = exp(s)`` for counts or rates (y >= 0), the Poisson negative log-likelihood\n"
               "        ``exp(s) - y*s`` (PyTorch's ``PoissonNLLLoss(log_input=True)``; ``loss_curve_`` holds it,\n"
               "        where scikit-learn's adds the constant that makes it half the Poisson deviance).\n"
               + _DOC_PARAMS)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_threads=None, clip_norm=None,
                 lr_schedule="constant", precision="fp32"):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose, warm_start=warm_start,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun, n_threads=n_threads, clip_norm=clip_norm,
            lr_schedule=lr_schedule, precision=precision)
        self.loss = loss

    @property
    def _head_name(self):
        return _REGRESSION_HEADS.get(self.loss, "linear")

    def _check_settings(self):
        if self.loss not in _REGRESSION_HEADS:
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        super()._check_settings()

    def _encode(self, y):
        y = np.asarray(y, dtype=np.float64)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float32)

    @_one_fit_at_a_time
    def fit(self, X, y, sample_weight=None):
        """Trains from scratch (or from the current weights with
        ``warm_start``) for up to ``max_iter`` epochs; returns self.
        ``sample_weight`` (one finite weight ≥ 0 a row) makes the objective
        the weighted mean loss, as scikit-learn's."""
        _require_y(self, y)
        X, y = validate_data(self, X, y, reset=True, multi_output=True, y_numeric=True)
        w = _sample_weight(sample_weight, X)
        return self._fit(X, self._encode(y), incremental=False, y=np.asarray(y, dtype=np.float64), w=w)

    @_one_fit_at_a_time
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), keeping the optimizer's state between calls."""
        X, y = validate_data(self, X, y, reset=not hasattr(self, "_net"), multi_output=True, y_numeric=True)
        w = _sample_weight(sample_weight, X)
        return self._fit(X, self._encode(y), incremental=True, w=w)

    def predict(self, X):
        y = self._forward(X).astype(np.float64)
        return y.ravel() if y.shape[1] == 1 else y

    def _target_meta(self):
        return {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _native_info():
    return {"simd": _native.simd_path(), "python": sys.version.split()[0], "sklearn": HAVE_SKLEARN}


__all__ = ["MLPClassifier", "MLPRegressor", "NotFittedError"]


def _table_cells(X, columns):
    """The cells of DataFrame ``X``'s ``columns`` (a CLI model's table
    columns), row-major as text: numbers as Python writes them, missing
    values (NaN, None, pandas.NA) as empty cells. A missing column is a
    ValueError naming it."""
    import pandas as pd
    lacking = [c for c in columns if c not in X.columns]
    if lacking:
        raise ValueError(f"X lacks the model's column(s) {', '.join(map(str, lacking))}; "
                         f"it reads {', '.join(map(str, columns))}")

    def cell(v):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return ""
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        return str(v)

    return [cell(v) for row in X[list(columns)].itertuples(index=False, name=None) for v in row]

