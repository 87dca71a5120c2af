#!/bin/bash
# Alternating rounds: L (784-1024-1024-10, batch 256) trained 3 epochs on
# the bundled digits by `mpirun -np 2 --threads 1` and by one process at
# `--threads 2`. Prints, per round, each epoch's samples/s, the ratio of
# the medians, the time between ranks per step (ms), and whether the two
# models are byte-identical. Build first:
#   cargo build --release --features mpi
# Usage: benches/mpi_ab.sh [ROUNDS]
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=$(cd "$(dirname "$0")/.." && pwd)/target/release/backprop
A=(--hidden 1024,1024 --batch-size 256 --epochs 3 --quiet)
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cd "$D"
for _ in $(seq 1 "${1:-5}"); do
  rm -f m.jsonl s.jsonl
  mpirun --bind-to core -np 2 "$B" train "${A[@]}" --log m.jsonl --threads 1 --out m.safetensors >/dev/null 2>&1
  "$B" train "${A[@]}" --log s.jsonl --threads 2 --out s.safetensors >/dev/null 2>&1
  same=$(cmp -s m.safetensors s.safetensors && echo identical || echo DIFFERENT)
  SAME=$same python3 - <<'PY'
import json, os, statistics as st
def read(f):
    rows = [json.loads(l) for l in open(f) if '"train_rows"' in l]
    steps = rows[0]["train_rows"] / 256
    return [r["samples_per_sec"] for r in rows], [r.get("comm_sec", 0) / steps * 1e3 for r in rows]
m, mc = read("m.jsonl"); s, _ = read("s.jsonl")
r = lambda xs, d=0: [round(x, d) if d else round(x) for x in xs]
print(f"2 ranks {r(m)} | one process {r(s)} | ranks/one {st.median(m)/st.median(s):.2f} | "
      f"ms/step between ranks, cumulative {r(mc, 1)} | models {os.environ['SAME']}")
PY
done
