#!/bin/bash
# Paired rounds of two backprop binaries built with --features mpi (A and
# B, e.g. a commit and its parent): L trained 3 epochs by `mpirun -np 2
# --threads 1` with each, then one process of B at `--threads 2`. Prints
# the ratios of the epochs' median samples/s, the time between ranks per
# step, and whether A and B wrote the same model. The three runs take turns
# at going first (round i starts with run i mod 3): on the Xeon a run right
# after another was up to 10-17 % faster than the one before it, so a fixed
# order biases every ratio.
# Usage: benches/mpi_ab_binaries.sh ROUNDS BIN_A BIN_B
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
A=(--hidden 1024,1024 --batch-size 256 --epochs 3 --quiet)
set -- "$1" "$(realpath "$2")" "$(realpath "$3")"
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT; cd "$D"
for i in $(seq 1 "$1"); do
  rm -f a.jsonl b.jsonl s.jsonl
  for j in 0 1 2; do
    case $(((i + j) % 3)) in
      0) mpirun --bind-to core -np 2 "$2" train "${A[@]}" --log a.jsonl --threads 1 --out a.safetensors ;;
      1) mpirun --bind-to core -np 2 "$3" train "${A[@]}" --log b.jsonl --threads 1 --out b.safetensors ;;
      2) "$3" train "${A[@]}" --log s.jsonl --threads 2 --out s.safetensors ;;
    esac >/dev/null 2>&1
  done
  cmp -s a.safetensors b.safetensors && same=same || same=DIFF
  python3 - "$same" <<'PY'
import json, statistics as st, sys
def read(f):
    rows = [json.loads(l) for l in open(f) if '"train_rows"' in l]
    steps = rows[0]["train_rows"] / 256
    return [r["samples_per_sec"] for r in rows], [r.get("comm_sec", 0) / steps * 1e3 for r in rows]
a, ac = read("a.jsonl"); b, bc = read("b.jsonl"); s, _ = read("s.jsonl")
print(f"A/one {st.median(a)/st.median(s):.3f}  B/one {st.median(b)/st.median(s):.3f}  B/A {st.median(b)/st.median(a):.3f}  one {st.median(s):.0f}  comm A {st.median(ac):.2f} B {st.median(bc):.2f} {sys.argv[1]}", flush=True)
PY
done
