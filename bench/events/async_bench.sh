#!/usr/bin/env bash
# Issue 13: accepted events per second with durability (async HTTP, each 202
# sent after the group commit's fdatasync) against synchronous invocation of
# the same function, 64 keep-alive connections (wrk); the p99 from
# acceptance to result (GET /v1/invocations?status=succeeded); and the
# group-commit trade-off: events/s, fdatasyncs per accepted event
# (stoa_queue_log_syncs_total) and acknowledgement latency for
# --events-commit-delay-ms 0, 2, 5.
#   bench/events/async_bench.sh [duration_s=10] [connections=64] [cpus=0,1]
# Needs a release build. The gateway runs pinned to `cpus` with taskset.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/build/release/bin
duration=${1:-10}
conns=${2:-64}
cpus=${3:-0,1}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_gateway() {  # delay_ms → sets gw, gw_pid
  local dir=$work/data-$1
  rm -rf "$dir"; mkdir -p "$dir"
  n_started=$(( ${n_started:-0} + 1 ))
  local fifo=$work/gw-$n_started.out
  mkfifo "$fifo"
  taskset -c "$cpus" "$bin/stoa-gateway" --listen 127.0.0.1:0 --data-dir "$dir" --log-level warn \
    --events-commit-delay-ms "$1" --events-max-mb 8192 --events-max-running 8 \
    >"$fifo" 2>"$work/gw-$n_started.log" &
  gw_pid=$!
  pids+=($gw_pid)
  exec 3<"$fifo"
  read -r -t 20 line <&3
  cat <&3 >/dev/null &
  exec 3<&-
  gw=${line##* listening on }
  curl -sf -o /dev/null -X POST "http://$gw/v1/functions" \
    -F 'spec={"name":"digits","runtime":"onnx","tiers":["edge"]};type=application/json' \
    -F "artifact=@$root/functions/examples/digits/digits.onnx"
  curl -sf -o /dev/null -X POST "http://$gw/v1/functions/digits/invoke" \
    -H 'Content-Type: application/json' -d "$body"
}
stop_gateway() { kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; }

body=$(cat "$root/functions/examples/digits/sample_request.json")
for mode in sync async; do
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [ "$mode" = async ] && echo 'wrk.headers["Prefer"] = "respond-async"'
    echo "wrk.body = [[$body]]"
  } >"$work/$mode.lua"
done

run() {  # label mode → prints a line, sets rps/p50/p99
  local label=$1 mode=$2
  wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$work/$mode.lua" \
    "http://$gw/v1/functions/digits/invoke" >"$work/$label.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$label.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$label.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$label.txt")
  local non2xx total
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$label.txt")
  total=$(awk '/requests in/ {print $1}' "$work/$label.txt")
  # Only 2xx answers count: a 503 from admission control is not a result.
  ok_rps=$(awk -v t="$total" -v n="${non2xx:-0}" -v d="$duration" 'BEGIN { printf "%.1f", (t - n) / d }')
  printf '%-16s %10s req/s (2xx %s/s)   p50 %9s   p99 %9s   non-2xx %s\n' "$label" "$rps" "$ok_rps" "$p50" "$p99" "${non2xx:-0}"
}

# p99 of finished_at - accepted_at over the events that succeeded (waits
# for the queue to drain first).
acceptance_to_result() {
  for _ in $(seq 1 600); do
    depth=$(curl -sf "http://$gw/metrics" | awk '$1=="stoa_queue_depth" {print $2}')
    [ "${depth%.*}" = 0 ] && break
    sleep 0.5
  done
  curl -sf "http://$gw/v1/invocations?status=succeeded&limit=10000" | /usr/bin/python3 -c '
import json, sys, datetime
def t(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
d = sorted((t(e["finished_at"]) - t(e["accepted_at"])).total_seconds() * 1000
           for e in json.load(sys.stdin)["invocations"])
if d: print("acceptance->result over %d events: p50 %.1f ms, p99 %.1f ms" % (len(d), d[len(d)//2], d[int(len(d)*0.99)]))'
}

echo "stoa gateway pinned to cpus $cpus, wrk -t1 -c$conns -d${duration}s, $(nproc) cores"
start_gateway 2
run sync-invoke sync; sync_rps=$ok_rps
run async-202 async; async_rps=$ok_rps
awk -v a="$async_rps" -v s="$sync_rps" 'BEGIN { printf "accepted async (202) / answered sync (200) per second: %.3f\n", a / s }'
acceptance_to_result
stop_gateway

echo
metric() {  # name-with-labels → value from /metrics (0 if absent)
  curl -sf "http://$gw/metrics" | awk -v m="$1" '$1==m {v=$2} END {print v+0}'
}
echo "group commit: events/s against acknowledgement latency (202 after fdatasync)"
printf '%-10s %12s %14s %10s %10s\n' delay_ms events/s syncs/event ack_p50 ack_p99
for delay in 0 2 5; do
  start_gateway "$delay"
  sleep 0.5
  s0=$(metric stoa_queue_log_syncs_total); a0=$(metric 'stoa_queue_events_total{outcome="accepted"}')
  run "async-delay-$delay" async >/dev/null
  sleep 0.5  # the counter is refreshed every 200 ms
  s1=$(metric stoa_queue_log_syncs_total); a1=$(metric 'stoa_queue_events_total{outcome="accepted"}')
  per=$(awk -v s0="$s0" -v s1="$s1" -v a0="$a0" -v a1="$a1" \
    'BEGIN { a = a1 - a0; if (a > 0) printf "%.3f", (s1 - s0) / a; else print "-" }')
  printf '%-10s %12s %14s %10s %10s\n' "$delay" "$ok_rps" "$per" "$p50" "$p99"
  stop_gateway
done
