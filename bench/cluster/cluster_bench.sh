#!/usr/bin/env bash
# Issue 15's figures on one machine, loopback only: etcd (Debian's
# etcd-server), three executors announced with --announce, two gateways with
# --registry etcd:// sharing an --artifact-store, which the executors read
# too (--artifact-store: loads name the store key, not the bytes).
#   - propagation: register on gateway A, poll gateway B (curl, back to back)
#     until it answers 200; N registrations, median and max;
#   - membership: a fourth executor starts (its "announced" log line) → the
#     gateways' "target cloud: 4 members" line; then SIGKILL → "3 members"
#     (bounded by the lease TTL, --announce-ttl-s);
#   - throughput: wrk on A alone, then on A and B at once (digits, cloud tier).
#   bench/cluster/cluster_bench.sh [duration_s=10] [connections=8] [registrations=20]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${STOA_BIN_DIR:-$root/build/release/bin}
duration=${1:-10}
conns=${2:-8}
regs=${3:-20}
ttl=2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cp=$(port); pp=$(port)
etcd --name b --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$cp" \
  --advertise-client-urls "http://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
  --initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "b=http://127.0.0.1:$pp" \
  --log-level warn 2>"$work/etcd.log" &
pids+=($!)
until ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$cp" endpoint health >/dev/null 2>&1; do sleep 0.1; done
url=etcd://127.0.0.1:$cp

start() {  # name log args... → sets addr, pid
  local name=$1 log=$2; shift 2
  mkfifo "$work/$log.out"
  "$bin/$name" "$@" >"$work/$log.out" 2>"$work/$log.log" &
  pid=$!
  pids+=($pid)
  exec 3<"$work/$log.out"
  read -r -t 20 line <&3
  cat <&3 >/dev/null &
  exec 3<&-
  addr=${line##* listening on }
}
mkdir -p "$work/store" "$work/ga" "$work/gb"
for i in 1 2 3; do
  start stoa-executor ex$i --listen 127.0.0.1:0 --threads 1 --announce "$url" --announce-ttl-s $ttl \
    --artifact-store "$work/store"
done
start stoa-gateway ga --listen 127.0.0.1:0 --data-dir "$work/ga" --edge none --registry "$url" \
  --artifact-store "$work/store" --log-level info
a=$addr
start stoa-gateway gb --listen 127.0.0.1:0 --data-dir "$work/gb" --edge none --registry "$url" \
  --artifact-store "$work/store" --log-level info
b=$addr
sleep 0.5

register() {  # gateway name
  curl -sf -o /dev/null -X POST "http://$1/v1/functions" \
    -F "spec={\"name\":\"$2\",\"runtime\":\"onnx\",\"tiers\":[\"cloud\"]};type=application/json" \
    -F "artifact=@$root/functions/examples/digits/digits.onnx"
}
ms() { python3 -c "import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1]).timestamp()*1000))" "$1"; }
logtime() { grep -m1 "$2" "$1" | cut -c1-23; }
echo "== propagation of a registration, A → B ($regs registrations)"
for i in $(seq 1 "$regs"); do
  register "$a" "p$i"
  t0=$(date +%s%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$b/v1/functions/p$i")" = 200 ]; do :; done
  echo $(( ($(date +%s%N) - t0) / 1000 ))
done | sort -n >"$work/prop.txt"
awk '{v[NR]=$1} END {printf "polling B with curl after the 201 on A: median %.2f ms, max %.2f ms (includes curl start-up)\n", v[int((NR+1)/2)]/1000, v[NR]/1000}' "$work/prop.txt"
# The gateways' own log lines: A "function 'pN' version 1 stored" (after the
# etcd Txn) → B "function 'pN' stored by another gateway" (watch applied).
for i in $(seq 1 "$regs"); do
  echo $(( $(ms "$(logtime "$work/gb.log" "function 'p$i' stored by another")") - $(ms "$(logtime "$work/ga.log" "function 'p$i' version 1 stored")") ))
done | sort -n >"$work/prop_log.txt"
awk '{v[NR]=$1} END {printf "log timestamps, A stored → B applied: median %d ms, max %d ms (ms resolution)\n", v[int((NR+1)/2)], v[NR]}' "$work/prop_log.txt"

echo "== membership change"
start stoa-executor ex4 --listen 127.0.0.1:0 --threads 1 --announce "$url" --announce-ttl-s $ttl \
  --artifact-store "$work/store"
ex4=$pid
sleep 1.5
t_ann=$(logtime "$work/ex4.log" "announced")
t_ga=$(logtime "$work/ga.log" "target cloud: 4 members")
t_gb=$(logtime "$work/gb.log" "target cloud: 4 members")
echo "join: announced $t_ann; gateway A +$(( $(ms "$t_ga") - $(ms "$t_ann") )) ms, B +$(( $(ms "$t_gb") - $(ms "$t_ann") )) ms (log timestamps, ms resolution)"
kill -9 "$ex4"
t_kill=$(date +%s%3N)
for _ in $(seq 1 100); do grep -q "target cloud: 3 members" <(tail -n 3 "$work/ga.log") && break; sleep 0.05; done
t_gone=$(ms "$(grep "target cloud: 3 members" "$work/ga.log" | tail -1 | cut -c1-23)")
echo "leave (SIGKILL, lease TTL ${ttl} s): gateway A dropped it after $(( t_gone - t_kill )) ms"

echo "== invoke throughput, wrk -t1 -c$conns -d${duration}s per gateway, $(nproc) cores"
body=$(cat "$root/functions/examples/digits/sample_request.json")
register "$a" digits
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$body]]
LUA
curl -sf -o /dev/null -X POST "http://$b/v1/functions/digits/invoke" -H 'Content-Type: application/json' -d "$body"
curl -sf -o /dev/null -X POST "http://$a/v1/functions/digits/invoke" -H 'Content-Type: application/json' -d "$body"
# Answers with 200 per second (the tier's admission sheds with 503 past its
# queue limit, 4 per worker).
rps() { awk -v d="$duration" '/requests in/ {n=$1} /Non-2xx/ {e=$NF} END {printf "%.0f", (n-e)/d}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $NF}' "$1"; }
wrk -t1 -c"$conns" -d"${duration}s" -s "$work/post.lua" "http://$a/v1/functions/digits/invoke" >"$work/one.txt"
echo "one gateway (A):  $(rps "$work/one.txt") ok/s, non-2xx $(non2xx "$work/one.txt")"
wrk -t1 -c"$conns" -d"${duration}s" -s "$work/post.lua" "http://$a/v1/functions/digits/invoke" >"$work/two_a.txt" &
wrk -t1 -c"$conns" -d"${duration}s" -s "$work/post.lua" "http://$b/v1/functions/digits/invoke" >"$work/two_b.txt"
wait %% 2>/dev/null || true
sleep 0.5
echo "two gateways:     A $(rps "$work/two_a.txt") + B $(rps "$work/two_b.txt") ok/s, non-2xx $(non2xx "$work/two_a.txt") / $(non2xx "$work/two_b.txt")"
echo "== loads by store key (executors' log)"
echo "from the artifact store: $(cat "$work"/ex*.log | grep -c "from the artifact store"), refused: $(cat "$work"/ex*.log | grep -c "by store key refused")"
echo "== etcd keys"
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$cp" get --prefix /stoa/v1/members/ --keys-only | grep -c . | sed 's/^/member keys: /'
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$cp" get --prefix /stoa/v1/registry/ --keys-only | grep -c . | sed 's/^/registry keys: /'
