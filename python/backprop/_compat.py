"""scikit-learn's base classes and input checks when it is installed, and
small stand-ins with the same behaviour when it is not (it is an optional
dependency)."""

import inspect

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted

    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data as _validate_data
    except ImportError:  # older: a method of the estimator
        def _validate_data(est, X="no_validation", y="no_validation", reset=True, ensure_all_finite=True, **kw):
            return est._validate_data(X, y, reset=reset, force_all_finite=ensure_all_finite, **kw)

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by the no-sklearn test in a subprocess
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before `fit` (as scikit-learn's)."""

    class ConvergenceWarning(UserWarning):
        """The solver stopped at `max_iter` (as scikit-learn's)."""

    class DataConversionWarning(UserWarning):
        """y was converted to the shape the estimator expects (as scikit-learn's)."""

    class BaseEstimator:
        """`get_params` / `set_params` from the constructor's signature."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}")
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class ClassifierMixin:
        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    class RegressorMixin:
        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None):
            y = np.asarray(y, dtype=np.float64)
            p = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
            y2, p2 = y.reshape(len(y), -1), p.reshape(len(p), -1)
            ss_res = ((y2 - p2) ** 2).sum(axis=0)
            ss_tot = ((y2 - y2.mean(axis=0)) ** 2).sum(axis=0)
            r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0))
            return float(r2.mean())

    def check_is_fitted(est, attributes=None):
        if not any(k.endswith("_") and not k.startswith("__") for k in vars(est)):
            raise NotFittedError(
                f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )

    def type_of_target(y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            if np.isin(y, [0, 1]).all():
                return "multilabel-indicator"
            return "multiclass-multioutput"
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            return "continuous"
        return "multiclass" if len(np.unique(y)) > 2 else "binary"

    def check_classification_targets(y):
        if type_of_target(y) not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"Unknown label type: {type_of_target(y)!r}")

    def _validate_data(est, X="no_validation", y="no_validation", reset=True, multi_output=False, y_numeric=False,
                       **_):
        def check_x(X):
            if hasattr(X, "columns"):
                names = np.asarray([str(c) for c in X.columns], dtype=object)
                if reset:
                    est.feature_names_in_ = names
            X = np.asarray(X, dtype=np.float32, order="C")
            if X.ndim != 2:
                raise ValueError(f"Expected 2D array, got {X.ndim}D array instead")
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f"Found array with shape {X.shape}: at least one sample and one feature needed")
            if not np.isfinite(X).all():
                raise ValueError("Input X contains NaN or infinity.")
            if reset:
                est.n_features_in_ = X.shape[1]
            elif X.shape[1] != est.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(est).__name__} is expecting {est.n_features_in_} "
                    "features as input."
                )
            return X

        if isinstance(y, str) and y == "no_validation":
            return check_x(X)
        X, y = check_x(X), np.asarray(y)
        if len(y) != X.shape[0]:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {len(y)}]")
        if y_numeric:
            y = y.astype(np.float64)
            if not np.isfinite(y).all():
                raise ValueError("Input y contains NaN or infinity.")
        return X, y


def validate_data(est, X, y=None, reset=True, **kw):
    """X (and y) checked and converted as scikit-learn does: X becomes
    C-contiguous float32, copied only when it is not already; NaN and
    infinity are errors; the feature count (and names) are remembered at fit
    (`reset`) and checked after."""
    if y is None:
        return _validate_data(est, X, reset=reset, dtype=np.float32, order="C", **kw)
    return _validate_data(est, X, y, reset=reset, dtype=np.float32, order="C", **kw)
