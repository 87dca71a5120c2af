"""backprop: multilayer perceptrons trained by backpropagation on CPUs.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's parameters and
behave as its estimators of the same names (they are scikit-learn
estimators when it is installed), trained by the Rust engine on every core
with the GIL released. ``load`` reads a model file written by ``save`` or by
``backprop train``.
"""

from ._compat import NotFittedError
from ._load import load
from ._mlp import MLPClassifier, MLPRegressor

__version__ = "0.1.0"
__all__ = ["MLPClassifier", "MLPRegressor", "load", "NotFittedError", "__version__"]
