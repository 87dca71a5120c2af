#!/usr/bin/env python3
"""Train on the bundled MNIST digits through backprop's C ABI, with ctypes.

numpy arrays go to the library as pointers to their own memory (no copies):
each batch is one contiguous float32 array, passed with .ctypes.data_as.

    cargo build --release
    python3 examples/python/train_digits.py            # needs numpy

Options: --lib PATH (default target/release/libbackprop.so), --epochs N.
"""
import argparse
import ctypes as C
import gzip
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class TrainConfig(C.Structure):
    """bp_train_config, field for field."""
    _fields_ = [("struct_size", C.c_uint32), ("batch_size", C.c_size_t), ("threads", C.c_size_t),
                ("lr", C.c_float), ("optimizer", C.c_int32), ("momentum", C.c_float),
                ("weight_decay", C.c_float)]


BP_OK, BP_ACTIVATION_SIGMOID, BP_HEAD_SOFTMAX = 0, 0, 0
F32P = C.POINTER(C.c_float)


def load_library(path):
    lib = C.CDLL(path)
    lib.bp_version.restype = C.c_char_p
    lib.bp_last_error.restype = C.c_char_p
    lib.bp_train_config_default.argtypes = [C.POINTER(TrainConfig)]
    lib.bp_model_new.argtypes = [C.POINTER(C.c_size_t), C.c_size_t, C.c_int32, C.c_int32, C.c_uint64, C.POINTER(C.c_void_p)]
    lib.bp_model_predict.argtypes = [C.c_void_p, F32P, C.c_size_t, F32P]
    lib.bp_model_free.argtypes = [C.c_void_p]
    lib.bp_trainer_new.argtypes = [C.c_void_p, C.POINTER(TrainConfig), C.POINTER(C.c_void_p)]
    lib.bp_trainer_step.argtypes = [C.c_void_p, F32P, F32P, C.c_size_t, C.POINTER(C.c_float)]
    lib.bp_trainer_free.argtypes = [C.c_void_p]
    for f in ("bp_model_new", "bp_model_predict", "bp_trainer_new", "bp_trainer_step"):
        getattr(lib, f).restype = C.c_int
    return lib


def check(lib, status, what):
    if status != BP_OK:
        sys.exit(f"{what} failed ({status}): {lib.bp_last_error().decode()}")


def ptr(a):
    """A float pointer into a contiguous float32 array's own memory."""
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(F32P)


def idx(split):
    d = os.path.join(ROOT, "data", "mnist10k")
    with gzip.open(os.path.join(d, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(os.path.join(d, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return np.ascontiguousarray(x), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.path.join(ROOT, "target", "release", "libbackprop.so"))
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    lib = load_library(a.lib)
    print("backprop", lib.bp_version().decode())

    x, labels = idx("train")
    xt, labels_t = idx("test")
    t = np.eye(10, dtype=np.float32)[labels]

    sizes = (C.c_size_t * 3)(784, 128, 10)
    model = C.c_void_p()
    check(lib, lib.bp_model_new(sizes, 3, BP_ACTIVATION_SIGMOID, BP_HEAD_SOFTMAX, 0, C.byref(model)), "bp_model_new")
    config = TrainConfig()
    lib.bp_train_config_default(C.byref(config))
    trainer = C.c_void_p()
    check(lib, lib.bp_trainer_new(model, C.byref(config), C.byref(trainer)), "bp_trainer_new")

    rng = np.random.default_rng(0)
    b = config.batch_size
    loss = C.c_float()
    for epoch in range(1, a.epochs + 1):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), b):
            rows = order[i:i + b]
            xb, tb = np.ascontiguousarray(x[rows]), np.ascontiguousarray(t[rows])
            check(lib, lib.bp_trainer_step(trainer, ptr(xb), ptr(tb), len(rows), C.byref(loss)), "bp_trainer_step")
            total += loss.value * len(rows)
        y = np.empty((len(xt), 10), np.float32)
        check(lib, lib.bp_model_predict(model, ptr(xt), len(xt), ptr(y)), "bp_model_predict")
        acc = (y.argmax(1) == labels_t).mean()
        print(f"epoch {epoch:2d}  train loss {total / len(x):.4f}  test accuracy {100 * acc:.2f}%")

    lib.bp_trainer_free(trainer)
    lib.bp_model_free(model)
    return 0 if acc >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
