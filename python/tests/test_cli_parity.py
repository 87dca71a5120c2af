"""The estimators train the weights `backprop train` trains from the same
data, settings and seed, byte for byte; files go both ways. scikit-learn's
estimators do not scale their inputs, so the CLI runs with --no-standardize."""

import json
import pathlib
import subprocess

import numpy as np
import pytest

import backprop
from backprop import _native
from conftest import write_csv


def cli_params(path):
    with open(path, "rb") as f:
        net, _ = _native.Network.from_bytes(f.read(), str(path))
    return net.params()


CASES = [
    # (estimator settings, the CLI flags that mean the same)
    (dict(solver="adam", alpha=1e-3, batch_size=50, learning_rate_init=1e-3, activation="relu"),
     ["--optimizer", "adam", "--lr", "0.001", "--activation", "relu"]),
    (dict(solver="sgd", alpha=0.0, batch_size=64, learning_rate_init=0.1, momentum=0.9, activation="logistic"),
     ["--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--nesterov", "--activation", "sigmoid"]),
    (dict(solver="adamw", alpha=0.5, batch_size=32, learning_rate_init=2e-3, activation="tanh", lr_schedule="cosine",
          clip_norm=1.0),
     ["--optimizer", "adamw", "--lr", "0.002", "--activation", "tanh", "--lr-schedule", "cosine",
      "--clip-norm", "1"]),
]


@pytest.mark.parametrize("settings,flags", CASES)
def test_classifier_weights_equal_the_cli_s(tmp_path, cli, digits, settings, flags):
    X, y = digits
    X, y = X[:600], y[:600]
    write_csv(tmp_path / "d.csv", X, y)
    clf = backprop.MLPClassifier(hidden_layer_sizes=(24, 16), max_iter=4, random_state=7, tol=0,
                                 n_iter_no_change=100, **settings).fit(X, y)
    decay = repr(settings["alpha"] / settings["batch_size"])
    subprocess.run([cli, "train", "--data", str(tmp_path / "d.csv"), "--hidden", "24,16", "--epochs", "4",
                    "--seed", "7", "--batch-size", str(settings["batch_size"]), "--weight-decay", decay,
                    "--out", str(tmp_path / "m.safetensors"), "--quiet", "--no-standardize", *flags], check=True)
    assert clf._net.params().tobytes() == cli_params(tmp_path / "m.safetensors").tobytes()


def test_regressor_weights_equal_the_cli_s(tmp_path, cli):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    Y = np.stack([X @ rng.normal(size=5), np.sin(X[:, 0])], axis=1).astype(np.float32)
    write_csv(tmp_path / "r.csv", X, Y)
    reg = backprop.MLPRegressor(hidden_layer_sizes=(16,), max_iter=3, random_state=5, alpha=0, batch_size=40,
                                tol=0, n_iter_no_change=100).fit(X, Y)
    subprocess.run([cli, "train", "--data", str(tmp_path / "r.csv"), "--targets", "2", "--head", "linear",
                    "--hidden", "16", "--epochs", "3", "--seed", "5", "--batch-size", "40", "--optimizer", "adam",
                    "--lr", "0.001", "--activation", "relu", "--out", str(tmp_path / "m.safetensors"), "--quiet",
                    "--no-standardize"],
                   check=True)
    assert reg._net.params().tobytes() == cli_params(tmp_path / "m.safetensors").tobytes()


def test_a_saved_model_is_scored_by_backprop_eval_and_a_cli_model_loads(tmp_path, cli, digits):
    X, y = digits
    clf = backprop.MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(X, y)
    clf.save(tmp_path / "py.safetensors")
    write_csv(tmp_path / "d.csv", X, y)
    out = subprocess.run([cli, "eval", "--model", str(tmp_path / "py.safetensors"), "--data",
                          str(tmp_path / "d.csv"), "--json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["accuracy"] == pytest.approx(clf.score(X, y), abs=1e-12)
    back = backprop.load(tmp_path / "py.safetensors")
    assert type(back) is backprop.MLPClassifier and back.get_params() == clf.get_params()
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    # The other way: a model the CLI trained, used from Python.
    subprocess.run([cli, "train", "--data", str(tmp_path / "d.csv"), "--hidden", "20", "--epochs", "2",
                    "--out", str(tmp_path / "cli.safetensors"), "--quiet", "--no-standardize"], check=True)
    est = backprop.load(tmp_path / "cli.safetensors")
    assert type(est) is backprop.MLPClassifier and est.out_activation_ == "softmax"
    assert list(est.classes_) == list(range(10)) and est.coefs_[0].shape == (64, 20)
    pred = subprocess.run([cli, "predict", "--model", str(tmp_path / "cli.safetensors"), "--data",
                           str(tmp_path / "d.csv")], check=True, capture_output=True, text=True).stdout
    rows = [line.split(",") for line in pred.strip().splitlines()[1:]]
    assert len(rows) == len(X)
    assert np.allclose(np.array(rows, dtype=float)[:, -10:], est.predict_proba(X), atol=1e-6)


def test_a_cli_model_of_text_labels_predicts_its_class_names(tmp_path, cli):
    iris = pathlib.Path(__file__).resolve().parents[2] / "examples" / "data" / "iris.csv"
    out = tmp_path / "iris.safetensors"
    subprocess.run([cli, "train", "--data", str(iris), "--target", "species", "--hidden", "8", "--epochs", "30",
                    "--out", str(out), "--quiet"], check=True)
    est = backprop.load(out)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    pred = subprocess.run([cli, "predict", "--model", str(out), "--data", str(iris)], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()
    X = np.loadtxt(iris, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4), dtype=np.float32)
    assert list(est.predict(X)) == [line.split(",")[0] for line in pred[1:]]


def test_feature_names_travel_between_the_faces(tmp_path, cli):
    """A model fitted on a DataFrame keeps its columns' names in the file:
    `backprop eval` on a CSV with the columns in another order finds them
    by name and scores as Python does; a CLI model of a CSV with a header
    carries them as `feature_names_in_`."""
    pd = pytest.importorskip("pandas")
    iris = pathlib.Path(__file__).resolve().parents[2] / "examples" / "data" / "iris.csv"
    df = pd.read_csv(iris)
    features = [c for c in df.columns if c != "species"]
    X, y = df[features], df["species"].astype("category").cat.codes.to_numpy()
    clf = backprop.MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0).fit(X, y)
    clf.save(tmp_path / "py.safetensors")
    swapped = df[features[::-1]].assign(label=y)
    swapped.to_csv(tmp_path / "swapped.csv", index=False)
    out = subprocess.run([cli, "eval", "--model", str(tmp_path / "py.safetensors"), "--data",
                          str(tmp_path / "swapped.csv"), "--target", "label", "--json"],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["accuracy"] == pytest.approx(clf.score(X, y), abs=1e-12)
    subprocess.run([cli, "train", "--data", str(iris), "--target", "species", "--hidden", "8", "--epochs", "3",
                    "--out", str(tmp_path / "cli.safetensors"), "--quiet"], check=True)
    assert list(backprop.load(tmp_path / "cli.safetensors").feature_names_in_) == features


def test_a_python_model_of_text_classes_is_scored_by_backprop_eval(tmp_path, cli):
    """The class names travel in the file where the command line reads
    them: `eval` scores text labels as Python does and `predict` prints
    the names."""
    pd = pytest.importorskip("pandas")
    iris = pathlib.Path(__file__).resolve().parents[2] / "examples" / "data" / "iris.csv"
    df = pd.read_csv(iris)
    X, y = df.drop(columns="species"), df["species"]
    clf = backprop.MLPClassifier(hidden_layer_sizes=(8,), max_iter=80, random_state=0).fit(X, y)
    clf.save(tmp_path / "py.safetensors")
    out = subprocess.run([cli, "eval", "--model", str(tmp_path / "py.safetensors"), "--data", str(iris),
                          "--target", "species", "--json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["accuracy"] == pytest.approx(clf.score(X, y), abs=1e-12)
    pred = subprocess.run([cli, "predict", "--model", str(tmp_path / "py.safetensors"), "--data", str(iris),
                           "--target", "species"], check=True, capture_output=True, text=True).stdout
    assert [line.split(",")[0] for line in pred.strip().splitlines()[1:]] == list(clf.predict(X))


def test_a_cli_model_of_a_raw_table_predicts_from_a_dataframe(tmp_path, cli):
    """A CLI model trained on the penguins table as shipped (text columns,
    missing cells) predicts from a pandas DataFrame of the raw columns as
    `backprop predict` does from the file, and says clearly what is wrong."""
    pd = pytest.importorskip("pandas")
    data = pathlib.Path(__file__).resolve().parents[2] / "data" / "penguins" / "penguins.csv"
    out = tmp_path / "p.safetensors"
    subprocess.run([cli, "train", "--data", str(data), "--target", "species", "--missing", "auto", "--hidden", "8",
                    "--epochs", "3", "--out", str(out)], check=True, capture_output=True)
    est = backprop.load(out)
    frame = pd.read_csv(data)
    got = est.predict(frame.drop(columns=["species"]))
    pred = subprocess.run([cli, "predict", "--model", str(out), "--data", str(data), "--target", "species"],
                          check=True, capture_output=True, text=True).stdout.splitlines()
    want = [line.split(",")[0] for line in pred[1:]]
    assert list(got) == want
    proba = est.predict_proba(frame)
    cli_p = np.array([[float(v) for v in line.split(",")[1:]] for line in pred[1:]], dtype=np.float32)
    np.testing.assert_allclose(proba, cli_p, rtol=1e-6, atol=1e-7)
    bad = frame.head(2).copy()
    bad.loc[0, "island"] = "Atlantis"
    with pytest.raises(ValueError, match=r'row 1, column 1 \("island"\).*"Atlantis" was not seen in training'):
        est.predict(bad)
    with pytest.raises(ValueError, match=r"lacks the model's column\(s\) sex"):
        est.predict(frame.drop(columns=["sex"]))
