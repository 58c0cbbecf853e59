#!/usr/bin/env bash
# What HTTPS and bearer-token auth cost at the gateway (issue 11, item 9),
# measured with wrk (Debian) against two gateways started side by side from
# the same build:
#   plain:  HTTP, no authentication (--listen 127.0.0.1)
#   secure: HTTPS (deploy/tls/make-dev-certs.sh, ECDSA P-256) + --auth-file,
#           every request carrying "Authorization: Bearer <token>" (an
#           invoker token limited to digits; no rate limit)
# Rows, each on keep-alive connections unless said otherwise:
#   healthz            GET /healthz (open: TLS cost only)
#   metrics            GET /metrics with an operator token (TLS + auth)
#   invoke             POST /v1/functions/digits/invoke?tier=edge (TLS + auth)
#   new-conn           GET /healthz with "Connection: close": a new TCP (and
#                      TLS) connection per request -> handshakes per second
# Rounds alternate plain and secure so drift hits both; the report gives each
# round and the median ratio secure/plain.
#   bench/http/security_bench.sh [duration_s=8] [connections=32] [rounds=5]
# Each round also reports the gateway's CPU time per request (utime + stime
# from /proc, over the wrk run): the gateway is saturated in both modes, so
# its inverse ratio is the cost ratio without the machine's throughput noise.
# wrk runs on the same machine. With STOA_BENCH_PIN=1 (the default when there
# are at least 2 CPUs) each gateway runs on CPU 0 and wrk on CPU 1, so wrk's
# own TLS work does not take CPU from the gateway and the ratio is the
# server's; STOA_BENCH_PIN=0 lets everything share every CPU. Admission
# queues are raised (--max-queue-per-tier, --edge-max-queue) so that the
# closed-loop load is served, not refused: saturation is not what this
# measures. The ratios, not the absolute rates, are the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${STOA_BIN_DIR:-$root/build/release/bin}
duration=${1:-8}
conns=${2:-32}
rounds=${3:-5}
pin=${STOA_BENCH_PIN:-$([[ $(nproc) -ge 2 ]] && echo 1 || echo 0)}
server_cpu=(); client_cpu=()
if [[ $pin == 1 ]]; then server_cpu=(taskset -c 0); client_cpu=(taskset -c 1); fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() {  # name args... -> sets addr and pid
  local name=$1; shift
  local fifo=$work/$name.$RANDOM.out
  mkfifo "$fifo"
  "${server_cpu[@]}" "$bin/$name" "$@" >"$fifo" 2>>"$work/$name.log" &
  pids+=($!)
  pid=$!
  exec 3<"$fifo"
  read -r -t 20 line <&3 || { echo "$name did not start:"; tail -5 "$work/$name.log"; exit 1; }
  cat <&3 >/dev/null &
  exec 3<&-
  addr=${line##* listening on }
}

deploy/tls/make-dev-certs.sh "$work/tls" >/dev/null
token() { echo "stoa_bench_$1_$(openssl rand -hex 16)"; }
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
admin=$(token admin); invoker=$(token invoker); operator=$(token operator)
cat >"$work/auth.yaml" <<YAML
tokens:
  - {name: bench-admin, sha256: $(digest "$admin"), role: admin}
  - {name: bench-invoker, sha256: $(digest "$invoker"), role: invoker, functions: [digits]}
  - {name: bench-operator, sha256: $(digest "$operator"), role: operator}
YAML

common=(--log-level warn --max-queue-per-tier 100000 --edge-max-queue 100000)
start stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/plain" "${common[@]}"
plain=http://$addr
plain_pid=$pid
start stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/secure" "${common[@]}" \
  --auth-file "$work/auth.yaml" --tls-cert "$work/tls/gateway.crt" --tls-key "$work/tls/gateway.key"
secure=https://localhost:${addr##*:}
secure_pid=$pid

model=$root/functions/examples/digits/digits.onnx
body=$(cat "$root/functions/examples/digits/sample_request.json")
for base in "$plain" "$secure"; do
  curl -sf -o /dev/null --cacert "$work/tls/ca.crt" -H "Authorization: Bearer $admin" \
    -X POST "$base/v1/functions" -F 'spec={"name":"digits","runtime":"onnx"};type=application/json' \
    -F "artifact=@$model"
  curl -sf -o /dev/null --cacert "$work/tls/ca.crt" -H "Authorization: Bearer $invoker" \
    -X POST "$base/v1/functions/digits/invoke?tier=edge" -H 'Content-Type: application/json' -d "$body"
done
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$body]]
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime
rps() {  # pid url [wrk args...] -> "requests/s server-CPU-µs-per-request"; fails on non-2xx
  local server=$1 url=$2; shift 2
  local before after
  before=$(cpu_ticks "$server")
  "${client_cpu[@]}" wrk -t1 -c"$conns" -d"${duration}s" "$@" "$url" >"$work/wrk.txt"
  after=$(cpu_ticks "$server")
  if grep -q "Non-2xx" "$work/wrk.txt"; then
    echo "non-2xx answers from $url:" >&2; cat "$work/wrk.txt" >&2; exit 1
  fi
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "%s %.1f\n", r, t / hz * 1e6 / n}' "$work/wrk.txt"
}

declare -A results cpu
row() {  # label plain-args... -- secure-args...
  local label=$1; shift
  local -a p=() s=()
  while [[ $1 != -- ]]; do p+=("$1"); shift; done; shift
  s=("$@")
  for ((r = 1; r <= rounds; r++)); do
    local a b ac bc
    read -r a ac < <(rps "$plain_pid" "${p[@]}")
    read -r b bc < <(rps "$secure_pid" "${s[@]}")
    results[$label]+="$a $b;"
    cpu[$label]+="$ac $bc;"
    printf '%-9s round %d: plain %8.1f req/s %6.1f µs   secure %8.1f req/s %6.1f µs   ratio %.3f  cpu ratio %.3f\n' \
      "$label" "$r" "$a" "$ac" "$b" "$bc" "$(awk -v a="$a" -v b="$b" 'BEGIN{print b/a}')" \
      "$(awk -v a="$ac" -v b="$bc" 'BEGIN{print a/b}')"
  done
}

echo "stoa-gateway: plain HTTP without auth vs HTTPS + bearer token; wrk -t1 -c$conns -d${duration}s, $rounds rounds, $(nproc) cores, pinned: $pin"
row healthz "$plain/healthz" -- "$secure/healthz"
row metrics "$plain/metrics" -- "$secure/metrics" -H "Authorization: Bearer $operator"
row invoke "$plain/v1/functions/digits/invoke?tier=edge" -s "$work/post.lua" -- \
  "$secure/v1/functions/digits/invoke?tier=edge" -s "$work/post.lua" -H "Authorization: Bearer $invoker"
row new-conn "$plain/healthz" -H "Connection: close" -- "$secure/healthz" -H "Connection: close"

echo
echo "median secure/plain ratio per row:"
for label in healthz metrics invoke new-conn; do
  ratio=$(echo "${results[$label]}" | tr ';' '\n' | awk 'NF==2 {printf "%.3f\n", $2/$1}' | sort -n |
    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  rate=$(echo "${results[$label]}" | tr ';' '\n' | awk 'NF==2 {print $2}' | sort -n |
    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  cpu_ratio=$(echo "${cpu[$label]}" | tr ';' '\n' | awk 'NF==2 {printf "%.3f\n", $1/$2}' | sort -n |
    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  printf '  %-9s %s   (secure: median %s req/s)   server CPU per request, plain/secure: %s\n' \
    "$label" "$ratio" "$rate" "$cpu_ratio"
done
