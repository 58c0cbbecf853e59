#!/usr/bin/env bash
# Stoa vs ONNX Runtime on the real-model set (bench/models/models.json):
# fetches the models (bench/models/fetch.sh), runs each on Stoa's engine
# (stoa-bench-onnx --model-file) and on ONNX Runtime (bench/ort/ort_models.mjs,
# npm onnxruntime-node) with 1 and with 2 intra-op threads, back to back,
# checks Stoa's outputs against ORT's, and prints one table:
#
#   model  thr  stoa_ms  ort_ms  stoa/ort  stoa_cpu_ms  ort_cpu_ms  cpu_ratio  max_abs  max_rel
#
# p50 wall time per call; cpu = p50 process CPU time per call (on a busy
# shared machine the 1-thread cpu ratio is the steadier figure). A model
# an engine cannot run shows "unsupported: <reason>" instead of figures.
#
#   bench/compare_ort.sh [BUILD_DIR] [--threads "1 2"] [--min-seconds S] [--only a,b]
#   bench/compare_ort.sh [BUILD_DIR] --examples    # the digits/lenet table (compare_examples.sh)
#
# Needs BUILD_DIR/bin/stoa-bench-onnx, node and npm. One thread runs pinned
# to CPU 0, two to CPUs 0-1 (taskset, when present). With STOA_ONNX_PROFILE=N
# in the environment the engine's per-node profile goes to
# BUILD_DIR/models-cache/profiles/<model>.t<threads>.txt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/release"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$(cd "$1" && pwd)"; shift; fi
threads_list="1 2"
min_seconds=2
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --examples) exec "$root/bench/ort/compare_examples.sh" "$build" ;;
    --threads) threads_list="$2"; shift 2 ;;
    --min-seconds) min_seconds="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bench="$build/bin/stoa-bench-onnx"
if [[ ! -x "$bench" ]]; then
  echo "no $bench: build it with cmake --build $build --target stoa-bench-onnx" >&2
  exit 1
fi
cache="$("$root/bench/models/fetch.sh" "$build" | tail -n 1)"
ort_cache="$build/ort-cache"
if [[ ! -d "$ort_cache/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$ort_cache"
  (cd "$ort_cache" && npm install --ignore-scripts --no-audit --no-fund --silent onnxruntime-node >&2)
fi
ort_pkg="$ort_cache/node_modules/onnxruntime-node"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
mkdir -p "$cache/outputs" "$cache/profiles"

pin() {  # pin THREADS CMD...: run CMD on the first THREADS CPUs
  local cpus="0"
  [[ "$1" -gt 1 ]] && cpus="0-$(($1 - 1))"
  shift
  if command -v taskset >/dev/null; then taskset -c "$cpus" "$@"; else "$@"; fi
}

while IFS=$'\t' read -r name file inputs; do
  [[ -n "$only" && "$only" != *",$name,"* ]] && continue
  args=()
  IFS=';' read -ra specs <<<"$inputs"
  for s in "${specs[@]}"; do args+=(--input "$s"); done
  for t in $threads_list; do
    out="$cache/outputs/$name.t$t"
    rm -rf "$out"
    echo "$name, $t thread(s)" >&2
    pin "$t" "$bench" --model "$name" --model-file "$file" "${args[@]}" --threads "$t" \
      --min-seconds "$min_seconds" --outputs "$out" 2>"$cache/profiles/$name.t$t.txt" |
      sed "s/^UNSUPPORTED engine=stoa model=$name /UNSUPPORTED engine=stoa model=$name threads=$t /" \
        >>"$results" || echo "UNSUPPORTED engine=stoa model=$name threads=$t reason=crashed" >>"$results"
    pin "$t" node "$root/bench/ort/ort_models.mjs" "$ort_pkg" "$name" "$file" "$inputs" "$t" \
      "$min_seconds" "$out" 2>/dev/null |
      sed "s/^UNSUPPORTED engine=ort model=$name /UNSUPPORTED engine=ort model=$name threads=$t /" \
        >>"$results" || echo "UNSUPPORTED engine=ort model=$name threads=$t reason=failed" >>"$results"
  done
done <"$cache/models.tsv"

awk '
  {
    delete f
    for (i = 2; i <= NF; ++i) {
      eq = index($i, "="); if (eq == 0) continue
      f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
    }
    if ($1 == "UNSUPPORTED") {
      reason = $0; sub(/.* reason=/, "", reason)
      f["reason"] = reason
    }
    engine = ($1 == "CHECK") ? "check" : f["engine"]
    key = f["model"] " " f["threads"]
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    if ($1 == "RESULT") { wall[engine, key] = f["p50_us"]; cpu[engine, key] = f["cpu_p50_us"] }
    if ($1 == "UNSUPPORTED") why[engine, key] = f["reason"]
    if ($1 == "CHECK") { mabs[key] = f["max_abs"]; mrel[key] = f["max_rel"] }
  }
  function ms(us) { return us == "" ? "-" : sprintf("%.3f", us / 1000) }
  function ratio(a, b) { return (a != "" && b != "" && b > 0) ? sprintf("%.2f", a / b) : "-" }
  END {
    printf "%-13s %3s %10s %10s %8s %11s %11s %9s %9s %9s\n", "model", "thr", "stoa_ms", "ort_ms",
      "stoa/ort", "stoa_cpu_ms", "ort_cpu_ms", "cpu_ratio", "max_abs", "max_rel"
    for (i = 1; i <= n; ++i) {
      k = order[i]; split(k, p, " ")
      if (("stoa", k) in why) {
        printf "%-13s %3s unsupported: %s\n", p[1], p[2], why["stoa", k]
        continue
      }
      if (("ort", k) in why) {
        printf "%-13s %3s stoa %s ms; ort unsupported: %s\n", p[1], p[2], ms(wall["stoa", k]), why["ort", k]
        continue
      }
      printf "%-13s %3s %10s %10s %8s %11s %11s %9s %9s %9s\n", p[1], p[2], ms(wall["stoa", k]),
        ms(wall["ort", k]), ratio(wall["stoa", k], wall["ort", k]), ms(cpu["stoa", k]),
        ms(cpu["ort", k]), ratio(cpu["stoa", k], cpu["ort", k]),
        (k in mabs) ? mabs[k] : "-", (k in mrel) ? mrel[k] : "-"
    }
  }' "$results"
