#!/usr/bin/env bash
# `deploy/local/up.sh | tee LOG`: the curl line it prints works (HTTPS with
# --cacert and the admin token) and is refused without the token; then
# Ctrl-C: every process the quick start started must be gone. A terminal's Ctrl-C reaches the whole foreground
# pipeline; `tee` usually dies first and the script's next write then hits a
# closed pipe, which must not kill the script before it stops the binaries.
# The test makes that order certain: SIGINT to tee, then to the job.
# Uses the built binaries (STOA_BIN_DIR), so it builds nothing.
# Environment: STOA_SOURCE_DIR, STOA_BIN_DIR (set by ctest); STOA_UP_SCRIPT
# (default deploy/local/up.sh) to try another script.
set -euo pipefail
src=${STOA_SOURCE_DIR:?}
bin=${STOA_BIN_DIR:?}
script=${STOA_UP_SCRIPT:-$src/deploy/local/up.sh}
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A zombie is dead: only a process that still runs counts.
running() { [[ -e /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

started=()
cleanup() {
  for pid in "${started[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Job control: the pipeline gets a process group of its own, like a
# terminal's foreground job, and SIGINT is not ignored in it (without -m a
# background job of a script starts with SIGINT ignored, untrappable).
set -m
STOA_BIN_DIR=$bin STOA_PORT=$port STOA_DATA_DIR=$work/data "$script" </dev/null |
  tee "$work/log" >/dev/null &
tee_pid=$!
group=$(jobs -p %+)
set +m

for _ in $(seq 1 100); do
  grep -q "Stoa is running" "$work/log" 2>/dev/null && break
  sleep 0.2
done
if ! grep -q "Stoa is running" "$work/log"; then
  echo "FAIL: the quick start did not come up; its output:"; cat "$work/log"
  kill -INT -- "-$group" 2>/dev/null || true
  exit 1
fi
mapfile -t started < <(sed -n 's/^stoa: .* (pid \([0-9]*\)) listening on .*/\1/p' "$work/log")
# The curl line it prints works as printed (HTTPS, --cacert, the token).
line=$(grep -m1 -- '^  curl -si --cacert' "$work/log" || true)
if [[ -z "$line" ]]; then
  echo "FAIL: no curl line with --cacert in the output:"; cat "$work/log"; exit 1
fi
status=$(cd "$src" && eval "${line/curl -si/curl -s -o /dev/null -w %\{http_code\}}")
if [[ "$status" != 200 ]]; then
  echo "FAIL: the printed curl line answered $status: $line"; exit 1
fi
# Without the token it is refused.
status=$(cd "$src" && eval "${line/-H \"Authorization: Bearer stoa_/-H \"X-Not-Auth: stoa_}" -o /dev/null -w '%{http_code}')
if [[ "$status" != *401 ]]; then
  echo "FAIL: the curl line without the token answered $status"; exit 1
fi
if [[ ${#started[@]} -ne 2 ]]; then
  echo "FAIL: expected the pids of stoa-executor and stoa-gateway; output:"; cat "$work/log"
  exit 1
fi

kill -INT "$tee_pid"
while running "$tee_pid"; do sleep 0.05; done
kill -INT -- "-$group"
for _ in $(seq 1 50); do
  alive=()
  for pid in "${started[@]}"; do
    if running "$pid"; then alive+=("$pid"); fi
  done
  [[ ${#alive[@]} -eq 0 ]] && break
  sleep 0.2
done
if [[ ${#alive[@]} -ne 0 ]]; then
  echo "FAIL: still running after Ctrl-C: $(ps -o pid=,args= -p "${alive[*]// /,}")"
  exit 1
fi
echo "PASS: Ctrl-C on 'up.sh | tee' stopped pids ${started[*]}"
