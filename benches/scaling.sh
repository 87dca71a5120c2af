#!/usr/bin/env bash
# Thread scaling in one command: `backprop bench` (training steps, then
# forward passes) for L and XL at 1, 2, 4, 8 and 16 threads, PyTorch beside
# it, each a fresh process pinned to the first T cores; prints Markdown
# tables with every contender's speed-up over its own T=1. One round per
# figure, 2 s each: about 5 minutes on a 16-core machine.
#
# usage: PYTHON=/path/to/venv/bin/python [PEER_BENCH=path/to/peer_bench.py] benches/scaling.sh
#        (the venv needs torch and numpy; THREADS=1,2,4 to measure fewer;
#        EXE=path/to/backprop uses a binary built elsewhere, for a machine
#        without a Rust toolchain, instead of building one)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PEERS=${PEER_BENCH:-../shared/bench/peer_bench.py}
THREADS=${THREADS:-1,2,4,8,16}
if [ -z "${EXE:-}" ]; then
    cargo build --release --quiet
    EXE=target/release/backprop
fi
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for mode in train infer; do
    "$PY" benches/compare.py --peer-bench "$PEERS" --mode "$mode" --configs L,XL --threads "$THREADS" \
        --exe "$EXE" --peers torch --rounds 1 --seconds 2 --markdown | sed -n '/^|/,$p'
    echo
done
