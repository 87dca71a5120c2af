#!/usr/bin/env python3
"""backprop against PyTorch and JAX, side by side, in one run.

For every config (S, M, L, XL) and thread count, runs `backprop bench` and
../shared/bench/peer_bench.py's torch and jax children, each a fresh process
pinned to the first T cores with taskset, in turn, `--rounds` times; prints
the median samples/s and GFLOP/s of each and the ratio to the best peer, as
JSON (--json) or a Markdown table. Interleaving the contenders round by round
exposes them to the same machine noise.

With --mode infer it times the forward pass alone: `backprop bench
--inference` against the peers' `torch-infer` (torch.inference_mode()) and
`jax-infer` (jitted forward) children, GFLOP/s counting 2·B·Σ in·out.

With --precision bf16 both sides run mixed precision: `backprop bench
--precision bf16` (operands rounded to bf16 as they are packed, sums in
f32) against the peers' own (peer_bench.py's: torch.autocast bf16, and a
bf16 copy of the network for inference; JAX with bf16 operands and f32
accumulation).

With --base EXE another build of backprop (an earlier commit's) runs in the
same rounds, between ours and the peers, and each row gives ours ÷ base.
--peers "" leaves the peers out.

usage (from the repo root, with a venv that has torch, jax, jaxlib, numpy):
  cargo build --release
  /path/to/venv/bin/python benches/compare.py --peer-bench ../shared/bench/peer_bench.py [--rounds 3] [--threads 1,2] [--mode infer]
      [--precision bf16] [--base EXE [--base-precision fp32]]
"""
import argparse, json, os, statistics, subprocess, sys

CONFIGS = {
    "S": ([784, 128, 10], 64),
    "M": ([784, 512, 512, 10], 128),
    "L": ([784, 1024, 1024, 10], 256),
    "XL": ([1024, 4096, 4096, 1024], 512),
}


def flops(layers, b, mode="train"):
    pairs = list(zip(layers[:-1], layers[1:]))
    fwd = sum(2 * b * i * o for i, o in pairs)
    if mode == "infer":
        return fwd
    return fwd * 2 + sum(2 * b * i * o for i, o in pairs[1:])


def pinned(threads):
    return ["taskset", "-c", ",".join(str(c) for c in range(threads))]


def ours(exe, name, threads, seconds, mode="train", precision="fp32"):
    layers, b = CONFIGS[name]
    cmd = pinned(threads) + [exe, "bench", "--layers", ",".join(map(str, layers)), "--batch-size", str(b),
                             "--threads", str(threads), "--seconds", str(seconds), "--json"]
    if precision != "fp32":
        cmd += ["--precision", precision]
    if mode == "infer":
        cmd.append("--inference")
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)[0]
    return r["samples_per_sec"], r.get("peak_rss_mib")


def peer(peer_bench, peer_name, name, threads, mode="train", precision="fp32"):
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[v] = str(threads)
    child = peer_name if mode == "train" else f"{peer_name}-infer"
    cmd = pinned(threads) + [sys.executable, peer_bench, "--child", child, str(threads), name, precision]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    dt = float(out.strip().splitlines()[-1])
    return CONFIGS[name][1] / dt, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-bench", default="../shared/bench/peer_bench.py")
    ap.add_argument("--exe", default="target/release/backprop")
    ap.add_argument("--base", help="another backprop build, run in the same rounds")
    ap.add_argument("--base-precision", choices=["fp32", "bf16"],
                    help="the base's precision (default --precision): --base EXE --base-precision fp32 gives bf16 ÷ fp32")
    ap.add_argument("--configs", default="S,M,L,XL")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--peers", default="torch,jax")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="end with a Markdown table (speed-ups against T=1)")
    a = ap.parse_args()
    peers = [p for p in a.peers.split(",") if p]
    rows = []
    for name in a.configs.split(","):
        layers, b = CONFIGS[name]
        for t in map(int, a.threads.split(",")):
            runs = {"backprop": [], **({"base": []} if a.base else {}), **{p: [] for p in peers}}
            rss = []
            for _ in range(a.rounds):
                sps, peak = ours(a.exe, name, t, a.seconds, a.mode, a.precision)
                runs["backprop"].append(sps)
                if peak:
                    rss.append(peak)
                if a.base:
                    runs["base"].append(ours(a.base, name, t, a.seconds, a.mode, a.base_precision or a.precision)[0])
                for p in peers:
                    runs[p].append(peer(a.peer_bench, p, name, t, a.mode, a.precision)[0])
            med = {k: statistics.median(v) for k, v in runs.items()}
            best_peer = max((v for k, v in med.items() if k in peers), default=None)
            row = dict(config=name, threads=t, batch=b, mode=a.mode, precision=a.precision, runs=runs,
                       samples_per_sec={k: round(v, 1) for k, v in med.items()},
                       gflops={k: round(v * flops(layers, b, a.mode) / b / 1e9, 1) for k, v in med.items()},
                       ratio_to_best_peer=round(med["backprop"] / best_peer, 3) if best_peer else None,
                       ratio_to_base=round(med["backprop"] / med["base"], 3) if a.base else None,
                       peak_rss_mib=max(rss) if rss else None)
            rows.append(row)
            if not a.json:
                print(f"{name:3} T={t}: " + "  ".join(f"{k} {v:,.0f}/s ({row['gflops'][k]} GFLOP/s)" for k, v in med.items())
                      + f"  to best peer {row['ratio_to_best_peer']}  to base {row['ratio_to_base']}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
    if a.markdown:
        print(markdown(rows, (["base"] if a.base else []) + peers))


def markdown(rows, peers):
    """A table: per config and thread count, each contender's samples/s and
    its speed-up over its own T=1, and backprop's ratio to the best peer."""
    head = ["config", "mode", "T", "backprop", "× T=1"]
    for p in peers:
        head += [p, "× T=1"]
    head += ["backprop / best peer", "backprop / base"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    one = {(r["config"], r["mode"]): r for r in rows if r["threads"] == 1}
    for r in rows:
        base = one.get((r["config"], r["mode"]))
        cells = [r["config"], r["mode"], str(r["threads"])]
        for k in ["backprop"] + peers:
            v = r["samples_per_sec"][k]
            up = f"{v / base['samples_per_sec'][k]:.2f}" if base else ""
            cells += [f"{v:,.0f}", up]
        for ratio in (r["ratio_to_best_peer"], r["ratio_to_base"]):
            cells.append(f"{ratio:.2f}" if ratio else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
