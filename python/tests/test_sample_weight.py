"""`sample_weight` with scikit-learn 1.9's meaning (the weighted mean loss):
whole-number weights are repeated rows and zero weights are rows left out,
to float32's precision; the weights reach the estimator through Pipeline
and GridSearchCV; bad weights are ValueErrors. And MLPRegressor's Poisson
loss."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

import backprop
from backprop import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def weighted_and_repeated():
    """scikit-learn's own setup for the check: 15 rows, weights 0..4,
    the weighted rows shuffled."""
    rng = np.random.RandomState(42)
    X, y = rng.rand(15, 30), rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    Xr, yr = X.repeat(sw, axis=0), y.repeat(sw)
    Xw, yw, sw = shuffle(X, y, sw, random_state=0)
    return X, (Xw, yw, sw), (Xr, yr)


@pytest.mark.parametrize("make", [lambda: MLPClassifier(max_iter=50, random_state=0),
                                  lambda: MLPRegressor(max_iter=50, random_state=0),
                                  lambda: MLPRegressor(solver="sgd", max_iter=50, random_state=0)])
def test_whole_number_weights_are_repeated_rows(make):
    X, (Xw, yw, sw), (Xr, yr) = weighted_and_repeated()
    out = "predict_proba" if isinstance(make(), MLPClassifier) else "predict"
    repeated = getattr(make().fit(Xr, yr), out)(X)
    weighted = getattr(make().fit(Xw, yw, sample_weight=sw), out)(X)
    # Float32 sums in another order: a few ulps (7e-7 measured), where a
    # decay of alpha/batch instead of alpha/Σw alone makes 1e-5.
    assert_allclose(weighted, repeated, rtol=3e-6, atol=1e-7)
    unweighted = getattr(make().fit(Xw, yw), out)(X)
    assert np.max(np.abs(unweighted - repeated)) > 1e-3, "the weights make a difference"


@pytest.mark.parametrize("est", [MLPClassifier(max_iter=20, random_state=0, shuffle=False),
                                 MLPRegressor(max_iter=20, random_state=0, shuffle=False)])
def test_zero_weights_are_rows_left_out_to_the_bit(est):
    rng = np.random.RandomState(3)
    X, y = rng.rand(60, 5), rng.randint(0, 2, size=60)
    keep = np.arange(60) % 3 != 0
    weighted = est.__class__(**est.get_params()).fit(X, y, sample_weight=keep.astype(float))
    left_out = est.__class__(**est.get_params()).fit(X[keep], y[keep])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, left_out.coefs_ + left_out.intercepts_):
        assert np.array_equal(a, b)
    assert weighted.loss_curve_ == left_out.loss_curve_


def test_partial_fit_takes_weights_and_ones_change_nothing():
    rng = np.random.RandomState(4)
    X, y = rng.rand(50, 4), rng.randint(0, 3, size=50)
    a = MLPClassifier(random_state=0, batch_size=50)
    b = MLPClassifier(random_state=0, batch_size=50)
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1, 2])
        b.partial_fit(X, y, sample_weight=np.ones(50), classes=[0, 1, 2])
    assert all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_))
    r = MLPRegressor(random_state=0).partial_fit(X, y.astype(float), sample_weight=rng.rand(50))
    assert r.n_iter_ == 1 and np.isfinite(r.loss_)
    # After a weighted call (Σw = 100, decay alpha/100), a call without
    # weights decays by alpha/batch again: as weights of 1 (Σw = 50) do.
    c = MLPClassifier(random_state=0, batch_size=50, alpha=0.5)
    d = MLPClassifier(random_state=0, batch_size=50, alpha=0.5)
    c.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y, sample_weight=np.full(50, 2.0))
    d.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y, sample_weight=np.full(50, 2.0))
    c.partial_fit(X, y)
    d.partial_fit(X, y, sample_weight=np.ones(50))
    assert all(np.array_equal(p, q) for p, q in zip(c.coefs_, d.coefs_))


def test_weights_pass_through_pipeline_and_grid_search():
    rng = np.random.RandomState(5)
    X, y = rng.rand(80, 4), (rng.rand(80) > 0.5).astype(int)
    w = np.where(np.arange(80) % 2 == 0, 0.0, 2.0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=10, random_state=0))
    pipe.fit(X, y, mlpclassifier__sample_weight=w)
    direct = MLPClassifier(max_iter=10, random_state=0).fit(StandardScaler().fit_transform(X), y, sample_weight=w)
    assert np.array_equal(pipe[-1].coefs_[0], direct.coefs_[0])
    grid = GridSearchCV(MLPClassifier(max_iter=5, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=2)
    grid.fit(X, y, sample_weight=w)
    unweighted = GridSearchCV(MLPClassifier(max_iter=5, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert not np.array_equal(grid.best_estimator_.coefs_[0], unweighted.best_estimator_.coefs_[0])


def test_early_stopping_scores_the_held_out_rows_with_their_weights():
    rng = np.random.RandomState(6)
    X, y = rng.rand(120, 4), rng.randint(0, 2, size=120)
    clf = MLPClassifier(max_iter=5, early_stopping=True, random_state=0, n_iter_no_change=50)
    clf.fit(X, y, sample_weight=rng.rand(120) + 0.5)
    assert len(clf.validation_scores_) == 5


@pytest.mark.parametrize("weights, message", [
    (-np.ones(30), "≥ 0"),
    (np.r_[np.ones(29), np.nan], "finite"),
    (np.ones(29), "sample_weight.shape"),
    (np.zeros(30), "at least one non-zero"),
])
def test_bad_weights_are_value_errors(weights, message):
    X, y = np.random.RandomState(7).rand(30, 3), np.arange(30) % 2
    for est in (MLPClassifier(max_iter=2), MLPRegressor(max_iter=2)):
        with pytest.raises(ValueError, match=message):
            est.fit(X, y, sample_weight=weights)


def counts(n=400, seed=8):
    """Counts whose log-rate is linear in two inputs."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, rng.poisson(np.exp(0.5 + X[:, 0] - 0.7 * X[:, 1]))


def test_poisson_loss_fits_counts_with_positive_rates(tmp_path):
    X, y = counts()
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=200, learning_rate_init=0.01,
                       random_state=0).fit(X, y)
    rates = reg.predict(X)
    assert reg.out_activation_ == "exp" and np.all(rates > 0)
    assert reg.score(X, y) > 0.3 and reg.loss_curve_[-1] < reg.loss_curve_[0]
    # The loss is PyTorch's PoissonNLLLoss(log_input=True, full=False): mean of exp(s) - y·s.
    s = np.log(rates.astype(np.float64))
    assert reg.loss_curve_[-1] == pytest.approx(np.mean(np.exp(s) - y * s), rel=0.05)
    reg.save(tmp_path / "p.safetensors")
    back = backprop.load(tmp_path / "p.safetensors")
    assert back.loss == "poisson" and np.array_equal(back.predict(X), rates)
    squared = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    assert squared.get_params()["loss"] == "squared_error" and squared.out_activation_ == "identity"


def test_poisson_refuses_negative_targets_and_unknown_losses():
    X, y = counts(50)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", max_iter=2).fit(X, y - 3.0)
    with pytest.raises(ValueError, match="loss must be"):
        MLPRegressor(loss="absolute_error", max_iter=2).fit(X, y)
    reg = MLPRegressor(loss="poisson", max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="poisson head"):
        reg.set_params(loss="squared_error").fit(X, y)


def test_a_cli_poisson_model_loads_as_a_poisson_regressor(cli, tmp_path):
    import subprocess
    X, y = counts(200)
    data = tmp_path / "c.csv"
    np.savetxt(data, np.c_[X, y], delimiter=",", header="a,b,n", comments="", fmt="%.6g")
    out = tmp_path / "m.safetensors"
    subprocess.run([cli, "train", "--data", str(data), "--target", "n", "--head", "poisson", "--hidden", "4",
                    "--epochs", "3", "--quiet", "--out", str(out)], check=True)
    reg = backprop.load(out)
    assert isinstance(reg, MLPRegressor) and reg.loss == "poisson" and np.all(reg.predict(X) > 0)
