"""One estimator, several threads, and Ctrl-C: fits on one estimator take
turns, a call that waits for a running fit does not hold the interpreter,
and a KeyboardInterrupt arrives within a step, leaving the estimator
usable."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import backprop


def data(rows, features, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_two_fits_on_one_estimator_take_turns():
    a, b = data(300, 5, 0), data(300, 9, 1)
    for _ in range(4):
        est = backprop.MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, n_iter_no_change=100, random_state=0)
        threads = [threading.Thread(target=est.fit, args=d) for d in (a, b)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        # The last fit's state, whole: its epochs, its inputs, its network.
        assert est.n_iter_ == 15
        assert est.coefs_[0].shape[0] == est.n_features_in_ in (5, 9)
        X = a[0] if est.n_features_in_ == 5 else b[0]
        assert est.predict(X).shape == (300,)


def test_waiting_for_a_running_fit_leaves_the_interpreter_running():
    X, y = data(20000, 784, 2)
    est = backprop.MLPClassifier(hidden_layer_sizes=(1024, 1024), max_iter=1, batch_size=256, random_state=0)
    est.partial_fit(X[:256], y[:256], classes=[0, 1])
    fitting = threading.Thread(target=est.partial_fit, args=(X, y))
    fitting.start()
    time.sleep(0.05)
    # Another thread waits for the fit's trainer (a getter) ...
    waiter = threading.Thread(target=lambda: est._fit_state.steps)
    waiter.start()
    # ... while this one runs Python.
    ticks, end = 0, time.monotonic() + 0.3
    while time.monotonic() < end:
        ticks += 1
    busy = fitting.is_alive()
    fitting.join()
    waiter.join()
    assert busy, "the epoch ended before the check"
    assert ticks > 10_000, f"the interpreter ran {ticks} loop turns in 0.3 s"


def test_ctrl_c_stops_a_fit_within_a_step_and_the_estimator_stays_usable():
    X, y = data(20000, 784, 3)
    est = backprop.MLPClassifier(hidden_layer_sizes=(2048, 2048), max_iter=50, batch_size=200, random_state=0)
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    # Python's own Ctrl-C handler, which it leaves out when started with
    # SIGINT ignored (as a background job is).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, y)
        late = time.monotonic() - sent[0]
    finally:
        timer.join()
        signal.signal(signal.SIGINT, before)
    assert late < 1.0, f"KeyboardInterrupt came {late:.2f} s after SIGINT"
    small = data(200, 4, 4)
    est.set_params(hidden_layer_sizes=(8,), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(*small)
    assert est.predict(small[0]).shape == (200,)


def test_threads_follow_the_workers_share_and_out_of_range_is_a_value_error(monkeypatch):
    X, y = data(100, 4, 5)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    est = backprop.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert est._fit_state.threads == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert est._threads() == 0
    for bad in (2**64, 0, -1, 1.5, 1025):
        est.set_params(n_threads=bad)
        with pytest.raises(ValueError, match="n_threads"):
            est.fit(X, y)
        with pytest.raises(ValueError, match="n_threads"):
            est.predict(X)
