#!/usr/bin/env bash
# The transport table of issue 12: one detector-sized model (1x3x320x320
# FP32 in, 1x1x320x320 out; bench/http/make_detector_model.py) timed as the
# engine alone, then through the gateway as KServe JSON, the binary data
# extension and (when the gateway has --grpc-listen) gRPC ModelInfer; p50
# per request and the overhead over the engine's own time, both as the
# difference of the p50s and as the median of each round's difference from
# the engine row (paired: steadier while the machine drifts; use n >= 100).
#   bench/http/transport_bench.sh [n=30] [tier=edge|cloud] [BUILD_DIR]
# STOA_SERVER_BIN=DIR takes stoa-gateway and stoa-executor from DIR (e.g. a
# build of an older commit); STOA_ONLY=LIST times only those of
# json,binary,grpc (json: a gateway from before the binary extension).
# cpu_ms: the median CPU time per request, of this process's thread for the
# engine row and of the gateway and executor processes for the others
# (/proc/PID/task/*/schedstat): steadier than wall time on a busy machine.
# Pins the gateway and the executor to CPU 0 and the client to CPU 1 (the
# engine row on CPU 0) when the machine has two (taskset); run it on a
# quiet machine and repeat.
# Needs the release build of stoa-gateway, stoa-executor and
# stoa-bench-transport, and Debian's python3-onnx.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
n=${1:-30}
tier=${2:-edge}
build=${3:-$root/build/release}
bin=$build/bin
server_bin=${STOA_SERVER_BIN:-$bin}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cpus=$(nproc)
pin() { if [[ $cpus -ge 2 ]]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

start() {  # cpu name args... -> sets addr
  local cpu=$1 name=$2; shift 2
  mkfifo "$work/$name.out"
  if [[ $cpus -ge 2 ]]; then
    taskset -c "$cpu" "$server_bin/$name" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  else
    "$server_bin/$name" "$@" >"$work/$name.out" 2>"$work/$name.log" &
  fi
  pids+=($!)
  exec 3<"$work/$name.out"
  read -r -t 30 line <&3
  cat <&3 >/dev/null &
  exec 3<&-
  addr=${line##* listening on }
}

# STOA_TRANSPORT_MODEL=FILE [STOA_TRANSPORT_SHAPE=1,3,320,320] times a
# published model instead (e.g. bench/models' ocr_det, the PaddleOCR
# detector of the issue's size) in place of the one-Conv stand-in.
if [[ -n ${STOA_TRANSPORT_MODEL:-} ]]; then
  model=$STOA_TRANSPORT_MODEL
else
  model=$work/detector_sized.onnx
  /usr/bin/python3 bench/http/make_detector_model.py "$model"
fi
start 0 stoa-executor --listen 127.0.0.1:0 --log-level warn
executor=$addr
grpc_args=()
grpc_port=""
gateway_help=$("$server_bin/stoa-gateway" --help 2>&1 || true)
if [[ $gateway_help == *--grpc-listen* ]]; then
  grpc_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  grpc_args=(--grpc-listen "127.0.0.1:$grpc_port")
fi
start 0 stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/data" --cloud "$executor" \
  --log-level warn --body-limit-mb 64 "${grpc_args[@]}"
gateway=$addr
curl -sf -o /dev/null -F 'spec={"name":"detector","runtime":"onnx"};type=application/json' \
  -F "artifact=@$model;type=application/octet-stream" "http://$gateway/v1/functions"
client_args=(--model "$model" --name detector --http "$gateway" --tier "$tier" --n "$n")
[[ -n ${STOA_TRANSPORT_SHAPE:-} ]] && client_args+=(--shape "$STOA_TRANSPORT_SHAPE")
[[ -n $grpc_port ]] && client_args+=(--grpc "127.0.0.1:$grpc_port")
[[ -n ${STOA_ONLY:-} ]] && client_args+=(--only "$STOA_ONLY")
# STOA_FIXED_ORDER=1: every round times the rows in the same order (before
# 2026-11-30 the only way); by default each round starts one row later.
[[ -n ${STOA_FIXED_ORDER:-} ]] && client_args+=(--fixed-order 1)
# CPU time per request of the gateway and the executor (the cpu_ms column),
# when the client knows the flag (a client from before it does not).
if grep -q -a -- --server-pids "$bin/stoa-bench-transport"; then
  client_args+=(--server-pids "$(IFS=,; echo "${pids[*]}")")
fi
# The client (a device, in real use) sends and receives from the other CPU,
# so that its work neither waits for nor evicts the caches of the servers'
# core; the engine row still runs on the servers' CPU (--engine-cpu).
# STOA_CLIENT_SAME_CPU=1 keeps everything on CPU 0 (the earlier set-up).
if [[ $cpus -ge 2 && -z ${STOA_CLIENT_SAME_CPU:-} ]] &&
  grep -q -a -- --engine-cpu "$bin/stoa-bench-transport"; then
  pin 1 "$bin/stoa-bench-transport" "${client_args[@]}" --engine-cpu 0
else
  pin 0 "$bin/stoa-bench-transport" "${client_args[@]}"
fi
