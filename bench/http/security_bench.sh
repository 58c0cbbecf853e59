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
#   bench/http/security_bench.sh [duration_s=8] [connections=32] [rounds=3]
# wrk runs on the same (2-core) machine and takes CPU from the gateway: the
# ratios, not the absolute rates, are the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${STOA_BIN_DIR:-$root/build/release/bin}
duration=${1:-8}
conns=${2:-32}
rounds=${3:-3}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() {  # name args... -> sets addr
  local name=$1; shift
  local fifo=$work/$name.$RANDOM.out
  mkfifo "$fifo"
  "$bin/$name" "$@" >"$fifo" 2>>"$work/$name.log" &
  pids+=($!)
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

start stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/plain" --log-level warn
plain=http://$addr
start stoa-gateway --listen 127.0.0.1:0 --data-dir "$work/secure" --log-level warn \
  --auth-file "$work/auth.yaml" --tls-cert "$work/tls/gateway.crt" --tls-key "$work/tls/gateway.key"
secure=https://localhost:${addr##*:}

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

rps() {  # url [wrk args...] -> requests/s; fails on non-2xx answers
  local url=$1; shift
  wrk -t1 -c"$conns" -d"${duration}s" "$@" "$url" >"$work/wrk.txt"
  if grep -q "Non-2xx" "$work/wrk.txt"; then
    echo "non-2xx answers from $url:" >&2; cat "$work/wrk.txt" >&2; exit 1
  fi
  awk '/Requests\/sec/ {print $2}' "$work/wrk.txt"
}

declare -A results
row() {  # label plain-args... -- secure-args...
  local label=$1; shift
  local -a p=() s=()
  while [[ $1 != -- ]]; do p+=("$1"); shift; done; shift
  s=("$@")
  for ((r = 1; r <= rounds; r++)); do
    local a b
    a=$(rps "${p[@]}"); b=$(rps "${s[@]}")
    results[$label]+="$a $b;"
    printf '%-9s round %d: plain %10.1f req/s   secure %10.1f req/s   ratio %.3f\n' \
      "$label" "$r" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print b/a}')"
  done
}

echo "stoa-gateway: plain HTTP without auth vs HTTPS + bearer token; wrk -t1 -c$conns -d${duration}s, $rounds rounds, $(nproc) cores"
row healthz "$plain/healthz" -- "$secure/healthz"
row metrics "$plain/metrics" -- "$secure/metrics" -H "Authorization: Bearer $operator"
row invoke "$plain/v1/functions/digits/invoke?tier=edge" -s "$work/post.lua" -- \
  "$secure/v1/functions/digits/invoke?tier=edge" -s "$work/post.lua" -H "Authorization: Bearer $invoker"
row new-conn "$plain/healthz" -H "Connection: close" -- "$secure/healthz" -H "Connection: close"

echo
echo "median secure/plain ratio per row:"
for label in healthz metrics invoke new-conn; do
  echo "${results[$label]}" | tr ';' '\n' | awk -v l="$label" 'NF==2 {r[++n]=$2/$1; s[n]=$2}
    END { asort(r); asort(s); printf "  %-9s %.3f   (secure: median %.1f req/s)\n", l, r[int((n+1)/2)], s[int((n+1)/2)] }'
done
