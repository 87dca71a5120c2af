#!/bin/bash
# The noise floor beside issue 11's ratio: rounds of one process at --threads 2
# (a), the same again (b) and mpirun -np 2 --threads 1 (m), L trained 3
# epochs each, the order rotated every round; prints b/a (one process
# against itself) and m/a, m/b. Usage: benches/mpi_noise.sh ROUNDS BIN
# (a backprop built with --features mpi).
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BIN=$(realpath "$2"); A=(--hidden 1024,1024 --batch-size 256 --epochs 3 --quiet)
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT; cd "$D"
for i in $(seq 1 "$1"); do
  rm -f a.jsonl b.jsonl m.jsonl
  for j in 0 1 2; do
    case $(((i + j) % 3)) in
      0) "$BIN" train "${A[@]}" --log a.jsonl --threads 2 --out a.safetensors ;;
      1) "$BIN" train "${A[@]}" --log b.jsonl --threads 2 --out b.safetensors ;;
      2) mpirun --bind-to core -np 2 "$BIN" train "${A[@]}" --log m.jsonl --threads 1 --out m.safetensors ;;
    esac >/dev/null 2>&1
  done
  python3 - <<'PY'
import json, statistics as st
r = lambda f: st.median(json.loads(l)["samples_per_sec"] for l in open(f) if '"train_rows"' in l)
a, b, m = r("a.jsonl"), r("b.jsonl"), r("m.jsonl")
print(f"b/a {b/a:.3f} m/a {m/a:.3f} m/b {m/b:.3f}", flush=True)
PY
done
