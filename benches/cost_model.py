#!/usr/bin/env python3
"""Expected data-parallel scaling of L and XL across N machines (MPI), by the
alpha-beta model of the reduction backprop uses (src/dist/mod.rs):

  chain reduce, pipelined in segments of m = min(G/P, 1 MiB) bytes: every
  rank forwards the whole gradient (G bytes) once, the last segment trails
  by P-1 hops
      t_chain = G/beta + (P-1)·(alpha + m/beta)
  then the finished segments round the ring of the other ranks, pipelined
  the same way (last → 0 → 1 → …)
      t_back = G/beta + (P-1)·(alpha + m/beta)

against the measured compute of a step: a machine computes B/P rows of
forward and backward (t_row each, measured with `backprop bench` at T=2 on
the development machine) and the whole update (t_update, on every rank).
The chain's transfers overlap the weight-gradient GEMMs only partly, so
the model counts them in full (a bound, not a promise):

  efficiency(P) = t_compute(B/P) / (t_compute(B/P) + t_update + t_chain + t_back)

Also printed: the smallest batch (a multiple of 64) that keeps efficiency at
or above 80 % for each P and link.

usage: python3 benches/cost_model.py [--row-us-L 71] [--row-us-XL 858]
"""
import argparse

# Gradient floats: Σ in·out + out over the layers.
CONFIGS = {
    "L": ([784, 1024, 1024, 10], 256),
    "XL": ([1024, 4096, 4096, 1024], 512),
}
# Link: (name, bytes/s, alpha seconds). 10/25 GbE over TCP, 100 Gb/s RDMA.
LINKS = [("10 Gb/s", 10e9 / 8, 30e-6), ("25 Gb/s", 25e9 / 8, 15e-6), ("100 Gb/s", 100e9 / 8, 3e-6)]
UPDATE_NS_PER_PARAM = 0.31  # SGD, one core: M's update phase, 0.205 ms for 669,706 parameters
MACHINES = [2, 8, 32]


def params(sizes):
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def comm_seconds(g_bytes, p, beta, alpha):
    if p == 1:
        return 0.0
    m = min(g_bytes / p, 4 << 18)  # dist::segment_floats, in bytes
    chain = g_bytes / beta + (p - 1) * (alpha + m / beta)
    back = g_bytes / beta + (p - 1) * (alpha + m / beta)
    return chain + back


def efficiency(n, batch, p, row_s, beta, alpha):
    compute = batch / p * row_s
    update = n * UPDATE_NS_PER_PARAM * 1e-9 / 2  # two threads a machine
    return compute / (compute + update + comm_seconds(4 * n, p, beta, alpha))


def batch_for(n, p, row_s, beta, alpha, target=0.8):
    b = 64
    while efficiency(n, b, p, row_s, beta, alpha) < target and b < 1 << 24:
        b += 64
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row-us-L", type=float, default=71.0, help="µs a row of L costs a 2-core machine")
    ap.add_argument("--row-us-XL", type=float, default=858.0, help="µs a row of XL costs a 2-core machine")
    a = ap.parse_args()
    rows = {"L": a.row_us_L * 1e-6, "XL": a.row_us_XL * 1e-6}
    print("| config | gradient | link | comm P=2 / 8 / 32 (ms) | step compute at P=2 / 8 / 32 (ms) "
          "| efficiency P=2 / 8 / 32 | batch for ≥ 80 % at P=2 / 8 / 32 |")
    print("|---|---|---|---|---|---|---|")
    for name, (sizes, batch) in CONFIGS.items():
        n = params(sizes)
        for link, beta, alpha in LINKS:
            comm = " / ".join(f"{comm_seconds(4 * n, p, beta, alpha) * 1e3:.1f}" for p in MACHINES)
            comp = " / ".join(f"{batch / p * rows[name] * 1e3:.1f}" for p in MACHINES)
            eff = " / ".join(f"{efficiency(n, batch, p, rows[name], beta, alpha) * 100:.0f} %" for p in MACHINES)
            need = " / ".join(str(batch_for(n, p, rows[name], beta, alpha)) for p in MACHINES)
            print(f"| {name} B={batch} | {4 * n / 1e6:.1f} MB | {link} | {comm} | {comp} | {eff} | {need} |")


if __name__ == "__main__":
    main()
