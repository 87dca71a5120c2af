"""scikit-learn's own estimator checks: every one passes (none is marked as
expected to fail)."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from backprop import MLPClassifier, MLPRegressor


@parametrize_with_checks([MLPClassifier(max_iter=50, random_state=0), MLPRegressor(max_iter=50, random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
