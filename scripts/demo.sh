#!/usr/bin/env bash
# The main job on defaults: search GELU -> quantise -> emit Verilog -> cocotb verify -> plot.
# Usage: scripts/demo.sh PYTHON OUTDIR   (`make demo` passes the venv's python)
set -euo pipefail
PY=${1:-python3}
OUT=${2:-demo_out}
pwlgen() { "$PY" -m pwlgen "$@"; }
mkdir -p "$OUT"

echo "== 1/6 search: the best 2-bit PWL of GELU (ReGELU2 shape, for training)"
pwlgen search --fn gelu --kbit 2 -o "$OUT/gelu_k2.yaml"

echo "== 2/6 search: 16 knots on [-8, 8], minimax"
pwlgen search --fn gelu --knots 16 --range -8 8 --tails slope --objective max -o "$OUT/gelu_n16.yaml"

echo "== 3/6 quantise: that PWL in 16-bit fixed point, and the faithful 16-bit design"
pwlgen quantize "$OUT/gelu_n16.yaml" -o "$OUT/gelu_n16_fixed.yaml"
pwlgen quantize --fn gelu -o "$OUT/gelu_fixed.yaml"

echo "== 4/6 emit Verilog (+ tables, C header, report)"
pwlgen emit-verilog --from "$OUT/gelu_fixed.yaml" -o "$OUT/rtl"

echo "== 5/6 verify: cocotb on Icarus, every input code, random stalls, mid-stream reset"
pwlgen verify "$OUT/rtl/pwl_gelu.json"

echo "== 6/6 plot: f and h, f' and h', error"
pwlgen plot "$OUT/gelu_k2.yaml" -o "$OUT/gelu_k2.png"
pwlgen plot "$OUT/gelu_n16.yaml" -o "$OUT/gelu_n16.png"

echo "demo finished: results in $OUT/"
