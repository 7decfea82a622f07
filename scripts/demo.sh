#!/usr/bin/env bash
# The main job on defaults: search GELU -> quantise -> emit Verilog -> cocotb verify -> plot.
# Usage: scripts/demo.sh PYTHON OUTDIR   (`make demo` passes the venv's python)
set -euo pipefail
PY=${1:-python3}
OUT=${2:-demo_out}
pwlgen() { "$PY" -m pwlgen "$@"; }
mkdir -p "$OUT"

echo "== 1/5 search: best 2-bit PWL of GELU (ReGELU2 shape)"
pwlgen search --fn gelu --kbit 2 -o "$OUT/gelu_k2.yaml"

echo "== 2/5 plot: f and h, f' and h', error"
pwlgen plot "$OUT/gelu_k2.yaml" -o "$OUT/gelu_k2.png"

echo "demo finished: results in $OUT/"
