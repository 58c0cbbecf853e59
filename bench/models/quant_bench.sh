#!/usr/bin/env bash
# Quantized models on Stoa's engine against ONNX Runtime, one thread each,
# pinned to one CPU: p50 per call, ratio, and the first output's sum (the
# same deterministic FP32 input, sin(0.1 i), to both). The models come from
# make_quant_models.py (Debian's python3-onnx) into BUILD_DIR/quant-models:
# a QOperator CNN (QLinearConv, 8-bit MaxPool, QLinearMatMul), a dynamically
# quantized MLP (DynamicQuantizeLinear, MatMulInteger) and a wide
# ConvInteger. Then the same models through quant_reference.py (numpy,
# int64 accumulation) for the exact expected sums.
#
#   bench/models/quant_bench.sh [BUILD_DIR] [RUNS]
#
# Needs BUILD_DIR/bin/stoa-time-onnx, node and npm (onnxruntime-node is
# installed into BUILD_DIR/ort-cache on first use).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
runs="${2:-100}"
cpu="${CPU:-0}"
models="$build/quant-models"
/usr/bin/python3 "$root/bench/models/make_quant_models.py" "$models" >/dev/null
ort_cache="$build/ort-cache"
if [[ ! -d "$ort_cache/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$ort_cache"
  (cd "$ort_cache" && npm install --ignore-scripts --no-audit --no-fund --silent onnxruntime-node >&2)
fi
printf "%-12s %12s %12s %9s  %s\n" model stoa_p50_us ort_p50_us stoa/ort "sum(y) stoa | ort"
for m in "$models"/*.onnx; do
  s="$(taskset -c "$cpu" "$build/bin/stoa-time-onnx" "$m" "$runs")"
  o="$(NODE_PATH="$ort_cache/node_modules" taskset -c "$cpu" node "$root/bench/models/time_ort.mjs" \
    "$ort_cache/node_modules/onnxruntime-node" "$m" "$runs" 2>/dev/null)"
  node -e '
    const [name, s, o] = process.argv.slice(1);
    const a = JSON.parse(s), b = JSON.parse(o);
    console.log(`${name.padEnd(12)} ${a.p50_us.toFixed(1).padStart(12)} ${b.p50_us.toFixed(1).padStart(12)} ${(a.p50_us / b.p50_us).toFixed(2).padStart(9)}  ${a.sums[0].toFixed(4)} | ${b.sums[0].toFixed(4)}`);
  ' "$(basename "$m" .onnx)" "$s" "$o"
done
echo "ONNX's integer semantics (numpy, int64 accumulation; quant_reference.py):"
/usr/bin/python3 "$root/bench/models/quant_reference.py" "$models"
