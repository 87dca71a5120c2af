"""The estimators as scikit-learn users use them: labels, shapes, fitted
attributes, errors, pickling, model selection."""

import copy
import pickle
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import backprop
from backprop import MLPClassifier, MLPRegressor
from backprop._compat import validate_data

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_string_labels_map_through_sorted_classes(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0).fit(X, names)
    assert list(clf.classes_) == sorted(set(names))
    assert clf.predict(X[:5]).dtype == clf.classes_.dtype and clf.score(X, names) > 0.9
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(clf.predict_log_proba(X[:7]), np.log(proba))
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 10 and clf.n_layers_ == 3


def test_a_multilabel_indicator_trains_logistic_outputs():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < -0.5], axis=1).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and list(clf.classes_) == [0, 1, 2]
    assert clf.predict(X).shape == (400, 3) and set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.score(X, Y) > 0.8  # subset accuracy, as scikit-learn's


def test_regressor_takes_1d_and_2d_targets():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0]
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (300,) and reg.score(X, y) > 0.9 and reg.out_activation_ == "identity"
    Y = np.stack([y, -y], axis=1)
    assert MLPRegressor(max_iter=20, random_state=0).fit(X, Y).predict(X).shape == (300, 2)


def test_fitted_attributes_have_scikit_learn_s_names_and_layout(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(20, 15), max_iter=3, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 15), (15, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (15,), (10,)]
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3 and clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.n_features_in_ == 64
    # coefs_ is (in, out): the first hidden pre-activation is X @ W0 + b0.
    h = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    h = np.maximum(h @ clf.coefs_[1] + clf.intercepts_[1], 0)
    s = h @ clf.coefs_[2] + clf.intercepts_[2]
    p = np.exp(s - s.max(axis=1, keepdims=True))
    assert np.allclose(p / p.sum(axis=1, keepdims=True), clf.predict_proba(X), atol=1e-4)


def test_early_stopping_keeps_the_best_validation_epoch(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, early_stopping=True, n_iter_no_change=3,
                        random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 60
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None
    keep, held = backprop._native.validation_split(len(X), 0.1, 0)
    assert clf.score(X[held], y[held]) == clf.best_validation_score_


def test_tol_stops_and_max_iter_warns(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    clf = MLPClassifier(max_iter=500, tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    # As scikit-learn (which gives 4 here too): the first epoch improves on inf, the
    # next n_iter_no_change + 1 do not improve by tol, and the last of them stops the run.
    assert clf.n_iter_ == 4


def test_a_batch_larger_than_the_data_is_clipped_with_one_warning(digits):
    X, y = digits
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        clf = MLPClassifier(batch_size=5000, max_iter=3, random_state=0).fit(X, y)
    clipped = [w for w in seen if "clipped" in str(w.message)]
    assert len(clipped) == 1 and clf.n_iter_ == 3


def test_warm_start_and_partial_fit_continue_from_the_weights(digits):
    X, y = digits
    a = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
    w = a.coefs_[0].copy()
    a.fit(X, y)
    assert a.n_iter_ == 4 and not np.array_equal(w, a.coefs_[0])
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    p = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    for _ in range(10):
        for lo in range(0, 1500, 500):
            p.partial_fit(X[lo:lo + 500], y[lo:lo + 500], classes=np.arange(10))
    assert p.n_iter_ == 30 and p.loss_curve_[-1] < 0.5 * p.loss_curve_[0] and p.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not the same as on last call"):
        p.partial_fit(X, y, classes=np.arange(11))


def test_bad_input_raises_what_scikit_learn_raises(digits):
    X, y = digits
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    Xn = X.copy()
    Xn[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(max_iter=1).fit(Xn, y)
    clf = MLPClassifier(max_iter=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :10])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier(max_iter=1).fit(X, y[:-1])
    for bad, what in [(dict(solver="lbfgs"), "lbfgs"), (dict(activation="identity"), "identity"),
                      (dict(learning_rate="invscaling"), "invscaling"), (dict(learning_rate="adaptive"), "adaptive"),
                      (dict(alpha=-1.0), "alpha"), (dict(lr_schedule="step"), "lr_schedule")]:
        with pytest.raises(ValueError, match=what):
            MLPClassifier(max_iter=1, **bad).fit(X, y)
    with pytest.raises(ValueError, match="diverged|finite"):
        MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=5, random_state=0).fit(X, y * 1e6)


def test_float32_c_arrays_are_used_in_place_and_everything_else_converted(digits):
    X, y = digits
    est = MLPClassifier()
    assert validate_data(est, X) is X
    for other in [X.astype(np.float64), np.asfortranarray(X), X.tolist()]:
        got = validate_data(est, other)
        assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, X)
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    clf = MLPClassifier(max_iter=2, random_state=0).fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    assert np.array_equal(clf.predict(df), clf.predict(X))


def test_pickle_deepcopy_and_clone_keep_what_they_should(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    for other in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert np.array_equal(other.predict_proba(X), clf.predict_proba(X))
        assert other.loss_curve_ == clf.loss_curve_
    # The state is the model's bytes and the fitted attributes: no copy of the training data.
    assert len(pickle.dumps(clf)) < 2 * len(clf._net.to_bytes({})) + 4096  # the bytes, and coefs_ beside them
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "coefs_")
    unfitted = pickle.loads(pickle.dumps(MLPRegressor(alpha=0.5)))
    assert unfitted.alpha == 0.5


def test_pipelines_grid_search_and_cross_validation(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.8
    for jobs in (1, 2):
        grid = GridSearchCV(MLPClassifier(max_iter=3, random_state=0), {"hidden_layer_sizes": [(8,), (16,)]},
                            cv=2, n_jobs=jobs).fit(X, y)
        assert grid.best_params_["hidden_layer_sizes"] in [(8,), (16,)] and grid.best_estimator_.n_iter_ == 3
    scores = cross_val_score(MLPRegressor(max_iter=5, random_state=0), X, y.astype(float), cv=3, n_jobs=2)
    assert scores.shape == (3,)


def test_verbose_prints_one_line_an_epoch(digits, capsys):
    X, y = digits
    MLPClassifier(max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"Iteration {i + 1}, loss = ") for i, line in enumerate(lines))


def test_the_gil_is_released_while_fit_runs():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40000, 200)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    # One thread for the engine, so that the counting thread has a core.
    clf = MLPClassifier(hidden_layer_sizes=(512, 512), max_iter=1, batch_size=64, n_threads=1, random_state=0)
    count, done = [0], threading.Event()

    def counter():
        while not done.is_set():
            count[0] += 1

    t = threading.Thread(target=counter, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        free = count[0] / 0.3  # counts a second with the GIL to itself (about)
        start, before = time.perf_counter(), count[0]
        clf.fit(X, y)  # one epoch: one native call, nearly all of the fit
        elapsed, during = time.perf_counter() - start, count[0] - before
    finally:
        done.set()
        t.join()
    assert elapsed > 0.5, f"the fit took {elapsed:.3f}s: too short to tell"
    # Holding the GIL, the fit would leave the counter only its few
    # milliseconds of Python; released, it counts most of the time.
    assert during > 0.3 * free * elapsed, f"{during} counts in {elapsed:.2f}s of fit, {free:.0f}/s free"


def test_works_without_scikit_learn(tmp_path):
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np, backprop\n"
        "from backprop._compat import HAVE_SKLEARN; assert not HAVE_SKLEARN\n"
        "X = np.random.RandomState(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)\n"
        "c = backprop.MLPClassifier(max_iter=50, random_state=0)\n"
        "assert c.get_params()['max_iter'] == 50 and c.set_params(alpha=0.1).alpha == 0.1\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "c.fit(X, y); assert c.score(X, y) > 0.9\n"
        "r = backprop.MLPRegressor(max_iter=50, random_state=0).fit(X, X[:, 0]); assert r.score(X, X[:, 0]) > 0.5\n"
        "try:\n    backprop.MLPClassifier().predict(X)\nexcept backprop.NotFittedError:\n    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_load_refuses_malformed_metadata_with_a_value_error_naming_the_file(tmp_path):
    """Whatever the metadata holds, `load` gives the estimator or a
    ValueError naming the file, never a KeyError, TypeError or IndexError."""
    from backprop import _native
    import json

    net = _native.Network([4, 8, 3], "relu", "softmax", 0)
    good = {"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [8]}, "n_iter": 1, "loss_curve": [0.5],
            "classes": ["a", "b", "c"], "multilabel": False}
    cases = {
        "not json": {"backprop.python": "{"},
        "a list": {"backprop.python": "[]"},
        "no params": {"backprop.python": json.dumps({k: v for k, v in good.items() if k != "params"})},
        "unknown estimator": {"backprop.python": json.dumps({**good, "estimator": "SVC"})},
        "two classes for three outputs": {"backprop.python": json.dumps({**good, "classes": ["a", "b"]})},
        "classes not a list": {"backprop.python": json.dumps({**good, "classes": 3})},
        "n_iter text": {"backprop.python": json.dumps({**good, "n_iter": "x"})},
        "no multilabel": {"backprop.python": json.dumps({k: v for k, v in good.items() if k != "multilabel"})},
        "feature names of the wrong count": {"backprop.python": json.dumps({**good, "feature_names_in": ["x"]})},
        "cli classes of the wrong count": {"backprop.classes": json.dumps(["a"])},
        "cli classes not json": {"backprop.classes": "nope"},
        "cli features not names": {"backprop.features": json.dumps([1, 2, 3, 4])},
    }
    path = tmp_path / "m.safetensors"
    for what, meta in cases.items():
        path.write_bytes(net.to_bytes(meta))
        with pytest.raises(ValueError, match="m.safetensors"):
            backprop.load(path)
    path.write_bytes(net.to_bytes({"backprop.python": json.dumps(good)}))
    assert list(backprop.load(path).classes_) == ["a", "b", "c"]
