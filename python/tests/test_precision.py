"""`precision='bf16'`: the products' operands rounded to bfloat16, the sums,
weights and updates float32. It changes the bits and keeps the accuracy:
the digits, breast-cancer and diabetes fits score within one point of
accuracy (0.02 of R²) of float32's."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from backprop import MLPClassifier, MLPRegressor


def split(X, y):
    X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float32), y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te).astype(np.float32), y_tr, y_te


def both(make, X_tr, y_tr):
    return {p: make(precision=p).fit(X_tr, y_tr) for p in ("fp32", "bf16")}


def test_bf16_changes_the_weights_but_not_the_digits_accuracy(digits):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    fits = both(lambda **k: MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0, **k), X_tr, y_tr)
    assert not np.array_equal(fits["fp32"].coefs_[0], fits["bf16"].coefs_[0]), "bf16 gave float32's bits"
    acc = {p: f.score(X_te, y_te) for p, f in fits.items()}
    assert abs(acc["bf16"] - acc["fp32"]) <= 0.01, acc
    assert acc["bf16"] > 0.95, acc


def test_breast_cancer_in_bf16_is_within_a_point():
    X_tr, X_te, y_tr, y_te = split(*load_breast_cancer(return_X_y=True))
    fits = both(lambda **k: MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0, **k), X_tr, y_tr)
    acc = {p: f.score(X_te, y_te) for p, f in fits.items()}
    assert abs(acc["bf16"] - acc["fp32"]) <= 0.01, acc
    assert acc["bf16"] > 0.93, acc


def test_diabetes_in_bf16_is_within_two_hundredths_of_r2():
    X_tr, X_te, y_tr, y_te = split(*load_diabetes(return_X_y=True))
    y_tr = y_tr.astype(np.float32)
    fits = both(lambda **k: MLPRegressor(hidden_layer_sizes=(32,), max_iter=500, learning_rate_init=0.01,
                                         random_state=0, **k), X_tr, y_tr)
    r2 = {p: f.score(X_te, y_te) for p, f in fits.items()}
    assert abs(r2["bf16"] - r2["fp32"]) <= 0.02, r2
    assert r2["bf16"] > 0.25, r2


def test_predict_runs_in_the_estimators_precision(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=5, random_state=0).fit(X, y)
    p32 = clf.predict_proba(X)
    clf.set_params(precision="bf16")
    p16 = clf.predict_proba(X)
    assert not np.array_equal(p32, p16), "bf16 predictions are float32's"
    assert np.max(np.abs(p32 - p16)) < 0.05
    assert (p32.argmax(1) == p16.argmax(1)).mean() > 0.98


def test_an_unknown_precision_is_a_value_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16', got 'fp16'"):
        MLPClassifier(precision="fp16").fit(X[:50], y[:50])
