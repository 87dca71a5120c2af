#!/usr/bin/env python3
"""How cost grows: training-step GFLOP/s of backprop and PyTorch against the
batch size (784-1024-1024-10, B = 1 to 2048) and against the width
(784-W-W-10, B = 256, W = 256 to 4096), at 1 and 2 threads. Each figure is a
fresh process pinned to the first T cores (taskset), backprop and PyTorch in
turn; prints one Markdown table per sweep.

GFLOP/s counts a step as 2·B·Σ in·out forward + 2·B·Σ in·out weight
gradients + 2·B·Σ in·out over every layer but the first (DEVELOPERS.md).

usage (from the repo root, with a venv that has torch and numpy):
  cargo build --release
  /path/to/venv/bin/python benches/growth.py --peer-bench ../shared/bench/peer_bench.py [--threads 1,2] [--seconds 1.5]
"""
import argparse, importlib.util, json, os, subprocess, sys

BATCHES = [1, 4, 16, 64, 256, 1024, 2048]
WIDTHS = [256, 512, 1024, 2048, 4096]


def flops(layers, b):
    pairs = list(zip(layers[:-1], layers[1:]))
    fwd = sum(2 * b * i * o for i, o in pairs)
    return fwd * 2 + sum(2 * b * i * o for i, o in pairs[1:])


def pinned(threads):
    return ["taskset", "-c", ",".join(str(c) for c in range(threads))]


def ours(exe, layers, b, threads, seconds):
    cmd = pinned(threads) + [exe, "bench", "--layers", ",".join(map(str, layers)), "--batch-size", str(b),
                             "--threads", str(threads), "--seconds", str(seconds), "--json"]
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)[0]
    return r["gflops"]


def torch(peer_bench, layers, b, threads):
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[v] = str(threads)
    cmd = pinned(threads) + [sys.executable, __file__, "--child", peer_bench, ",".join(map(str, layers)), str(b),
                             str(threads)]
    dt = float(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    return flops(layers, b) / dt / 1e9


def child(peer_bench, layers, b, threads):
    spec = importlib.util.spec_from_file_location("peer_bench", peer_bench)
    pb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pb)
    print(pb.bench_torch([int(v) for v in layers.split(",")], int(b), int(threads)))


def table(title, key, points, layers_of, batch_of, a):
    threads = [int(t) for t in a.threads.split(",")]
    head = [key] + [f"{who} T={t}" for t in threads for who in ("backprop", "torch")]
    print(f"\n{title}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in points:
        cells = [str(p)]
        for t in threads:
            layers, b = layers_of(p), batch_of(p)
            cells.append(f"{ours(a.exe, layers, b, t, a.seconds):.1f}")
            cells.append(f"{torch(a.peer_bench, layers, b, t):.1f}")
        print("| " + " | ".join(cells) + " |", flush=True)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-bench", required=True)
    ap.add_argument("--exe", default="target/release/backprop")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=1.5)
    a = ap.parse_args()
    table("GFLOP/s against the batch size (784-1024-1024-10)", "batch", BATCHES,
          lambda _: [784, 1024, 1024, 10], lambda b: b, a)
    table("GFLOP/s against the width (784-W-W-10, batch 256)", "width", WIDTHS,
          lambda w: [784, w, w, 10], lambda _: 256, a)


if __name__ == "__main__":
    main()
