#!/bin/bash
# Alternating rounds for issue 11's speed point: L (784-1024-1024-10, batch
# 256) trained 3 epochs by `mpirun -np 2 --threads 1` through the ranks'
# shared window, the same by messages, and one process at `--threads 2`.
# Prints, per round, each epoch's samples/s, the ratios of the medians and
# the cumulative time between ranks per step (ms). Build first:
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
  rm -f w.jsonl m.jsonl s.jsonl
  mpirun --bind-to core -np 2 "$B" train "${A[@]}" --log w.jsonl --threads 1 --out w.safetensors >/dev/null 2>&1
  BACKPROP_MPI_SHARED_MEMORY=0 mpirun --bind-to core -np 2 "$B" train "${A[@]}" --log m.jsonl --threads 1 --out m.safetensors >/dev/null 2>&1
  "$B" train "${A[@]}" --log s.jsonl --threads 2 --out s.safetensors >/dev/null 2>&1
  python3 - <<'PY'
import json, statistics as st
def read(f):
    rows = [json.loads(l) for l in open(f) if '"train_rows"' in l]
    steps = rows[0]["train_rows"] / 256
    return [r["samples_per_sec"] for r in rows], [r.get("comm_sec", 0) / steps * 1e3 for r in rows]
w, wc = read("w.jsonl"); m, mc = read("m.jsonl"); s, _ = read("s.jsonl")
r = lambda xs, d=0: [round(x, d) if d else round(x) for x in xs]
print(f"window {r(w)} | messages {r(m)} | one process {r(s)} | "
      f"window/one {st.median(w)/st.median(s):.2f} messages/one {st.median(m)/st.median(s):.2f} | "
      f"ms/step between ranks, cumulative: window {r(wc, 1)} messages {r(mc, 1)}")
PY
done
