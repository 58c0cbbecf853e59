#!/usr/bin/env bash
# Quick-start command 1: installs what is missing, builds, and runs the
# platform on this machine, secure by default (docs/security.md):
#   - on first run, a development CA and certificates (deploy/tls/
#     make-dev-certs.sh) and an admin token, kept under the data directory
#     (tls/, admin.token, auth.yaml);
#   - stoa-executor on 127.0.0.1 (a free port) as the cloud tier, mutual TLS;
#   - stoa-gateway on :8080 with the in-process edge executor, HTTPS and
#     bearer-token auth, talking to the executor with its client certificate;
#   - the example digits model registered,
# then prints a curl line (with --cacert and the token) that invokes it. Ctrl-C stops everything, also
# when the output is piped (`deploy/local/up.sh | tee log`).
# Environment: STOA_PORT (8080), STOA_DATA_DIR (build/quickstart-data),
# STOA_BIN_DIR (use the binaries there; skips installing and building).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

# A reader that went away (tee killed by the same Ctrl-C, `| head`) must not
# kill this script before it stops what it started: a write to a closed pipe
# fails instead (a trap with a command, unlike '', is not inherited by the
# binaries), and every message tolerates that.
trap ':' PIPE
say() { echo "stoa: $*" 2>/dev/null || true; }

if [[ -z "${STOA_BIN_DIR:-}" ]]; then
  say "checking packages (installs what is missing)..."
  deploy/setup-deps.sh
  say "configuring (cmake --preset release)..."
  mkdir -p build
  if ! cmake --preset release >build/quickstart-configure.log 2>&1; then
    tail -30 build/quickstart-configure.log >&2
    say "configuring failed; see build/quickstart-configure.log"
    exit 1
  fi
  say "building (the first build takes ~8 min on 2 cores; later ones seconds)..."
  cmake --build --preset release
fi
bin=${STOA_BIN_DIR:-$root/build/release/bin}
port=${STOA_PORT:-8080}
data=${STOA_DATA_DIR:-$root/build/quickstart-data}
mkdir -p "$data"

pids=()
stop() {
  local rc=$1
  trap - INT TERM EXIT
  # Nothing may cut the clean-up short: not a closed pipe, not a second ^C.
  trap '' PIPE INT
  set +e
  say "stopping"
  # Each binary leads its own process group (setsid below).
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  exit "$rc"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# Starts a binary whose first stdout line is "<name> listening on ADDR";
# sets $addr. Logs go to build/quickstart-<name>.log.
start() {
  local name=$1; shift
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  # Own session: Ctrl-C reaches only this script, which then stops the
  # processes in order (so their exit is not mistaken for a crash).
  setsid "$bin/$name" "$@" >"$fifo" 2>"$root/build/quickstart-$name.log" &
  pids+=($!)
  exec 3<"$fifo"; rm -f "$fifo"
  local line=""
  if ! read -r -t 20 line <&3; then
    say "$name did not start; see build/quickstart-$name.log" >&2
    tail -5 "$root/build/quickstart-$name.log" >&2 || true
    exit 1
  fi
  cat <&3 >/dev/null &  # keep draining its stdout
  exec 3<&-
  addr=${line##* listening on }
  say "$name (pid ${pids[-1]}) listening on $addr"
}

mkdir -p "$root/build"
# First run: certificates and an admin token, kept with the data.
tls=$data/tls
if [[ ! -s "$tls/gateway.crt" ]]; then
  say "making a development CA and certificates in $tls..."
  names=()
  host=$(hostname 2>/dev/null || true)
  [[ "$host" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ && "$host" != localhost ]] && names+=("$host")
  deploy/tls/make-dev-certs.sh "$tls" "${names[@]}" >/dev/null
fi
if [[ ! -s "$data/admin.token" ]]; then
  (umask 077; echo "stoa_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')" >"$data/admin.token")
  digest=$(tr -d '\n' <"$data/admin.token" | sha256sum | cut -d' ' -f1)
  (umask 077; cat >"$data/auth.yaml" <<YAML
# Bearer tokens of this gateway (docs/security.md); the token itself is in admin.token.
tokens:
  - name: quickstart-admin
    sha256: $digest
    role: admin
YAML
  )
  say "made an admin token ($data/admin.token) and $data/auth.yaml"
fi
token=$(cat "$data/admin.token")

say "starting the cloud executor and the gateway..."
start stoa-executor --listen 127.0.0.1:0 --device auto --tls-client-name gateway \
  --tls-cert "$tls/executor.crt" --tls-key "$tls/executor.key" --tls-client-ca "$tls/ca.crt"
cloud=$addr
start stoa-gateway --listen "0.0.0.0:$port" --data-dir "$data" --cloud "$cloud" \
  --auth-file "$data/auth.yaml" --tls-cert "$tls/gateway.crt" --tls-key "$tls/gateway.key" \
  --executor-tls-cert "$tls/gateway.crt" --executor-tls-key "$tls/gateway.key" \
  --executor-tls-ca "$tls/ca.crt"

example=$root/functions/examples/digits
code=$(curl -s -o "$root/build/quickstart-register.json" -w '%{http_code}' \
  --cacert "$tls/ca.crt" -H "Authorization: Bearer $token" \
  -X PUT "https://localhost:$port/v1/functions/digits" \
  -F 'spec={"name":"digits","runtime":"onnx","description":"MLP on 8x8 digits"};type=application/json' \
  -F "artifact=@$example/digits.onnx;type=application/octet-stream")
if [[ "$code" != 200 && "$code" != 201 ]]; then
  say "registering digits failed ($code): $(cat "$root/build/quickstart-register.json")" >&2
  exit 1
fi
say "function 'digits' registered ($code)"
ca=${tls#"$root"/}
cat <<MSG 2>/dev/null || true

Stoa is running (gateway https://localhost:$port with HTTPS and bearer tokens, cloud executor
$cloud with mutual TLS). Invoke the example:

  curl -si --cacert $ca/ca.crt -H "Authorization: Bearer $token" -X POST https://localhost:$port/v1/functions/digits/invoke -H 'Content-Type: application/json' -d @functions/examples/digits/sample_request.json

The token (admin) is in ${data#"$root"/}/admin.token; make more with: build/release/bin/stoa tokens create --role invoker
Force a tier with ?tier=edge or ?tier=cloud; placement: the same curl options on https://localhost:$port/v1/scheduler/state
Metrics: https://localhost:$port/metrics (operator or admin)      Ctrl-C stops everything.
MSG
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then say "a process exited; see build/quickstart-*.log" >&2; exit 1; fi
  done
  sleep 1 &
  wait $!  # a trap runs at once, not after the sleep
done
