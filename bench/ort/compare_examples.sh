#!/usr/bin/env bash
# Stoa vs ONNX Runtime on the example models, one thread: runs
# stoa-bench-onnx and bench/ort/run_ort.sh and prints, per model and batch,
# both p50 latencies and the Stoa/ORT ratio (below 1 means Stoa is faster).
#
#   bench/ort/compare_examples.sh [BUILD_DIR]   # or bench/compare_ort.sh BUILD_DIR --examples
#
# Needs BUILD_DIR/bin/stoa-bench-onnx (cmake --build BUILD_DIR --target
# stoa-bench-onnx), node and npm (the ORT package is cached under BUILD_DIR).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
bench="$build/bin/stoa-bench-onnx"
if [[ ! -x "$bench" ]]; then
  echo "no $bench: build it with cmake --build $build --target stoa-bench-onnx" >&2
  exit 1
fi
stoa_out="$(mktemp)"
ort_out="$(mktemp)"
trap 'rm -f "$stoa_out" "$ort_out"' EXIT
taskset -c 0 "$bench" --examples "$root/functions/examples" >"$stoa_out" 2>/dev/null ||
  "$bench" --examples "$root/functions/examples" >"$stoa_out"
"$root/bench/ort/run_ort.sh" "$build" >"$ort_out" 2>/dev/null
grep '^RESULT' "$stoa_out" "$ort_out" -h | awk '
  {
    for (i = 2; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
    key = f["model"] " " f["batch"]
    p50[f["engine"], key] = f["p50_us"]
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
  }
  END {
    printf "%-8s %6s %12s %12s %10s\n", "model", "batch", "stoa_p50_us", "ort_p50_us", "stoa/ort"
    for (i = 1; i <= n; ++i) {
      split(order[i], k, " ")
      s = p50["stoa", order[i]]; o = p50["ort", order[i]]
      r = (s != "" && o != "") ? sprintf("%.2f", s / o) : "n/a"
      printf "%-8s %6s %12s %12s %10s\n", k[1], k[2], (s == "" ? "-" : s), (o == "" ? "-" : o), r
    }
  }'
