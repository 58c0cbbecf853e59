#!/usr/bin/env bash
# Gateway throughput and latency with wrk (Debian): invoking the digits model
# on the edge tier vs. the static /healthz route, 64 keep-alive connections.
# The ratio of the two shows what the invoke path costs.
#   bench/http/invoke_bench.sh [duration_s=10] [connections=64] [wrk_threads=1]
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/build/release/bin
duration=${1:-10}
conns=${2:-64}
threads=${3:-1}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() {  # name args... → sets addr
  local name=$1; shift
  mkfifo "$work/$name.out"
  "$bin/$name" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  exec 3<"$work/$name.out"
  read -r -t 20 line <&3
  cat <&3 >/dev/null &
  exec 3<&-
  addr=${line##* listening on }
}
start stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/data" --log-level warn
gw=$addr
curl -sf -o /dev/null -X POST "http://$gw/v1/functions" \
  -F 'spec={"name":"digits","runtime":"onnx"};type=application/json' \
  -F "artifact=@$root/functions/examples/digits/digits.onnx"
body=$(cat "$root/functions/examples/digits/sample_request.json")
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$body]]
LUA
curl -sf -o /dev/null -X POST "http://$gw/v1/functions/digits/invoke?tier=edge" -H 'Content-Type: application/json' -d "$body"

run() {  # label url [script]
  local label=$1 url=$2; shift 2
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@" "$url" >"$work/$label.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$label.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$label.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$label.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$label.txt")
  printf '%-22s %12s req/s   p50 %9s   p99 %9s   non-2xx %s\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}"
  eval "${label//-/_}_rps=$rps"
}
echo "stoa gateway, wrk -t$threads -c$conns -d${duration}s, $(nproc) cores"
run healthz "http://$gw/healthz"
run invoke-edge "http://$gw/v1/functions/digits/invoke?tier=edge" -s "$work/post.lua"
awk -v a="$healthz_rps" -v b="$invoke_edge_rps" 'BEGIN { printf "invoke/healthz throughput ratio: %.3f\n", b / a }'
