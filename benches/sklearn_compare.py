"""Fit and predict_proba times of backprop's MLPClassifier against
scikit-learn's on the bundled 8,000 MNIST digits (issue 12's speed table).

    pip install ./python scikit-learn
    python benches/sklearn_compare.py [--rounds 3] [--json]

Each configuration is fitted with the same parameters by both estimators,
alternating, `--rounds` times; the medians of the fit times and the test
accuracy on the 2,000 test digits are printed, then predict_proba on all
10,000 rows.

Each timed call starts after a pause (`--pause`, 0.5 s): OpenBLAS's
threads, which scikit-learn's fit uses, keep spinning on the cores for
about 0.2 s after its last matrix product, and took 5 % of the samples of
the fit that followed at once (40 % of the CPU in its first 0.2 s;
BENCHMARKS.md). `--pause 0` measures that too.

On a virtual machine the hypervisor may take CPU time from it (`steal` in
/proc/stat): the most taken during any one fit is printed, and each fit's
in the JSON.
"""

import argparse
import gzip
import json
import os
import pathlib
import statistics
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP

import backprop
from backprop import MLPClassifier as BpMLP

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "mnist10k"

CONFIGS = {
    "784-128-10 logistic SGD lr 1.0 batch 64, 10 epochs": dict(
        hidden_layer_sizes=(128,), activation="logistic", solver="sgd", learning_rate_init=1.0, momentum=0.0,
        batch_size=64, max_iter=10),
    "scikit-learn's defaults, hidden (256, 128), 20 epochs": dict(hidden_layer_sizes=(256, 128), max_iter=20),
}


def idx(name):
    with gzip.open(DATA / name) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load():
    x = lambda n: (idx(n).reshape(-1, 784) / np.float32(255)).astype(np.float32)
    return (x("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz"),
            x("test-images-idx3-ubyte.gz"), idx("test-labels-idx1-ubyte.gz"))


def steal():
    """Seconds of CPU time the hypervisor has taken from this machine
    (`steal` in /proc/stat), or None where there is no such count."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def timed(fn, pause=0.0, stolen=None):
    """(seconds, result) of `fn()` after `pause` seconds of rest; the CPU
    seconds stolen meanwhile, when known, are appended to `stolen`."""
    time.sleep(pause)
    s0, t = steal(), time.perf_counter()
    out = fn()
    dt, s1 = time.perf_counter() - t, steal()
    if stolen is not None and s0 is not None and s1 is not None:
        stolen.append(s1 - s0)
    return dt, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of rest before each timed call")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    Xtr, ytr, Xte, yte = load()
    rows = []
    for name, params in CONFIGS.items():
        res = {"sklearn": ([], None), "backprop": ([], None)}
        stolen = {"sklearn": [], "backprop": []}
        for _ in range(args.rounds):
            for who, cls in (("sklearn", SkMLP), ("backprop", BpMLP)):
                t, est = timed(lambda: cls(random_state=0, **params).fit(Xtr, ytr), args.pause, stolen[who])
                res[who][0].append(t)
                res[who] = (res[who][0], est)
        sk_t, bp_t = statistics.median(res["sklearn"][0]), statistics.median(res["backprop"][0])
        sk_acc, bp_acc = res["sklearn"][1].score(Xte, yte), res["backprop"][1].score(Xte, yte)
        rows.append(dict(config=name, sklearn_fit_s=sk_t, backprop_fit_s=bp_t, speedup=sk_t / bp_t,
                         sklearn_acc=sk_acc, backprop_acc=bp_acc, sklearn_runs=res["sklearn"][0],
                         backprop_runs=res["backprop"][0], sklearn_stolen_s=stolen["sklearn"],
                         backprop_stolen_s=stolen["backprop"]))
        # CPU time the hypervisor takes can slow one side far more than the
        # other (BENCHMARKS.md): it is shown so that such rounds can be told.
        worst = max(stolen["sklearn"] + stolen["backprop"], default=None)
        note = "" if worst is None else f"; at most {worst:.2f} s of CPU stolen in a fit"
        print(f"{name}: scikit-learn {sk_t:.2f} s ({100 * sk_acc:.1f} %), backprop {bp_t:.2f} s "
              f"({100 * bp_acc:.1f} %): {sk_t / bp_t:.1f}x{note}", flush=True)
    X10 = np.vstack([Xtr, Xte])
    sk, bp = res["sklearn"][1], res["backprop"][1]
    sk_p = statistics.median(timed(lambda: sk.predict_proba(X10), args.pause)[0] for _ in range(5))
    bp_p = statistics.median(timed(lambda: bp.predict_proba(X10), args.pause)[0] for _ in range(5))
    print(f"predict_proba on 10,000 rows (784-256-128-10): scikit-learn {1e3 * sk_p:.1f} ms, "
          f"backprop {1e3 * bp_p:.1f} ms: {sk_p / bp_p:.1f}x")
    if args.json:
        print(json.dumps(dict(sklearn=sklearn.__version__, backprop=backprop.__version__, pause_s=args.pause, fits=rows,
                              predict_proba_ms=dict(sklearn=1e3 * sk_p, backprop=1e3 * bp_p))))


if __name__ == "__main__":
    main()
