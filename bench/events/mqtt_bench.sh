#!/usr/bin/env bash
# MQTT invocations per second and publish -> result latency (issue 13 item 7).
#
#   bench/events/mqtt_bench.sh [BUILD_DIR]          (default build/release)
#
# Starts a Mosquitto broker on a free loopback port, then runs stoa-mqtt-load
# (64 publishers, 4 in flight each) in two set-ups, back to back:
#   bridge-only   the bridge in the load process on an in-memory queue that
#                 accepts at once: the ceiling of the MQTT path (broker,
#                 codec, bridge), no durability, no executor;
#   gateway       stoa-gateway --mqtt-broker with its durable event queue and
#                 the in-process edge running the digits model (needs a
#                 gateway built with the event queue: skipped, and said so,
#                 when it refuses --mqtt-broker).
# Each set-up runs REPEAT times (default 3); the medians are printed. The load
# generator is pinned to CPU 0 and the broker to CPU 1 (taskset) when there
# are two CPUs. cpu_us_per_result is the load process's CPU time (publishers,
# result subscriber, and in bridge-only mode the bridge) per result: steadier
# than wall-clock figures on a shared machine. After each run the invocations
# still in flight get DRAIN_S (default 10) to answer (drain_ms: how long that
# took); unanswered_at_end counts those never answered. Request ids carry the
# load process's id, so the repeated runs against one gateway are not
# answered as duplicates of the first run's ids.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
load=$build/bin/stoa-mqtt-load
gateway=$build/bin/stoa-gateway
repeat=${REPEAT:-3}
duration=${DURATION_S:-10}
publishers=${PUBLISHERS:-64}
window=${WINDOW:-4}
drain=${DRAIN_S:-10}
[[ -x $load ]] || { echo "build $load first (cmake --build $build --target stoa-mqtt-load)" >&2; exit 2; }
command -v mosquitto >/dev/null || { echo "mosquitto missing: deploy/setup-deps.sh" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
pin_load=() pin_broker=()
if [[ $(nproc) -ge 2 ]]; then pin_load=(taskset -c 0); pin_broker=(taskset -c 1); fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 1000000
set_tcp_nodelay true
CONF
"${pin_broker[@]}" mosquitto -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
broker=tcp://127.0.0.1:$port

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() {  # label, extra args...
  local label=$1; shift
  : > "$work/$label.jsonl"
  for _ in $(seq "$repeat"); do
    "${pin_load[@]}" "$load" --broker "$broker" --publishers "$publishers" --window "$window" \
      --duration-s "$duration" --drain-s "$drain" "$@" | tee -a "$work/$label.jsonl"
  done
  for field in results_per_s p50_ms p99_ms cpu_us_per_result drain_ms; do
    printf '%s median %s: %s\n' "$label" "$field" \
      "$(grep -o "\"$field\":[0-9.]*" "$work/$label.jsonl" | cut -d: -f2 | median)"
  done
  printf '%s max unanswered_at_end (after the drain: lost or slower than it): %s\n' "$label" \
    "$(grep -o '"unanswered_at_end":[0-9]*' "$work/$label.jsonl" | cut -d: -f2 | sort -n | tail -1)"
}

echo "# $publishers publishers x $window in flight, ${duration}s, $repeat runs each; broker $broker"
run bridge-only --in-process-bridge

data=$work/gateway-data
if "$gateway" --listen 127.0.0.1:0 --data-dir "$data" --mqtt-broker "$broker" \
     >"$work/gateway.out" 2>"$work/gateway.log" & then pids+=($!); fi
sleep 1
if ! kill -0 "${pids[-1]}" 2>/dev/null; then
  echo "gateway: skipped ($(tail -1 "$work/gateway.log"))"
  exit 0
fi
addr=$(head -1 "$work/gateway.out" | awk '{print $NF}')
curl -sf -o /dev/null -X POST "http://$addr/v1/functions" \
  -F 'spec={"name":"digits","runtime":"onnx","tiers":["edge"]};type=application/json' \
  -F 'artifact=@functions/examples/digits/digits.onnx'
run gateway --function digits --payload "$(cat functions/examples/digits/sample_request.json)"
echo "gateway metrics:"; curl -s "http://$addr/metrics" | grep -E '^stoa_mqtt_' || true
