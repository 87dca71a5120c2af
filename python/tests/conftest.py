"""Shared fixtures: the repository's `backprop` binary and small data sets."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """The command line built from this repository (`cargo build --release`
    runs first when it is missing), or BACKPROP_BIN."""
    path = pathlib.Path(os.environ.get("BACKPROP_BIN", REPO / "target" / "release" / "backprop"))
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "backprop"], cwd=REPO, check=True)
    return str(path)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8×8 digits scaled to [0, 1] as float32: 1797 rows."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def write_csv(path, X, *targets):
    """X and the target columns as a CSV the CLI reads (no header; the
    targets last). Each float32 is written in the shortest form that reads
    back as the same float32."""
    cols = [np.asarray(X, dtype=np.float32)] + [np.asarray(t, dtype=np.float32).reshape(len(X), -1) for t in targets]
    table = np.hstack(cols)
    with open(path, "w") as f:
        for row in table:
            f.write(",".join(np.format_float_positional(v, unique=True, trim="-") for v in row) + "\n")
