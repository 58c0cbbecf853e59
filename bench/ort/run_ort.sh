#!/usr/bin/env bash
# Runs the ONNX Runtime baseline (npm onnxruntime-node, CPU, 1 intra-op
# thread) on the example models and prints p50 latencies in the format of
# stoa-bench-onnx's summary lines (see docs/performance.md).
#
#   bench/ort/run_ort.sh [BUILD_DIR]      # default: build/release
#
# The package goes into BUILD_DIR/ort-cache (installed once, with
# --ignore-scripts: its install script would download optional GPU files
# from outside; the CPU library ships in the package itself).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
cache="$build/ort-cache"
if [[ ! -d "$cache/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --ignore-scripts --no-audit --no-fund --silent onnxruntime-node >&2)
fi
NODE_PATH="$cache/node_modules" exec node "$root/bench/ort/ort_bench.mjs" \
  "$cache/node_modules/onnxruntime-node" "$root/functions/examples"
