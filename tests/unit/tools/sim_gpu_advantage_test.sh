#!/bin/bash
# stoa-sim --phases on gpu-flips prints the GPU target's predicted against
# its actual advantage per phase (issue 14's report): every phase has a
# row; while the GPU is idle the prediction is within 1 ms of the actual
# advantage and positive; while others queue on it, negative; the sign is
# right for every request. Usage: sim_gpu_advantage_test.sh STOA_SIM
set -euo pipefail
SIM=$1
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
"$SIM" --scenario gpu-flips --phases > "$OUT"
grep -q "cloud-gpu target's advantage over the fastest other target" "$OUT" ||
  { echo "no advantage table"; cat "$OUT"; exit 1; }
# | phase [start) | requests | predicted | actual | predicted - actual | sign right |
table=$(sed -n '/target.s advantage/,$p' "$OUT" | grep '^| gpu-')
echo "$table"
[ "$(echo "$table" | wc -l)" = 8 ] || { echo "expected 8 phases"; exit 1; }
echo "$table" | awk -F'|' '
  { phase = $2; predicted = $4 + 0; actual = $5 + 0; diff = $6 + 0; sign = $7 + 0
    if (sign != 100) { print "sign wrong in " phase; bad = 1 }
    if (phase ~ /idle/ && (predicted <= 0 || diff > 1 || diff < -1)) {
      print "idle GPU mispredicted in " phase; bad = 1 }
    if (phase ~ /busy/ && (predicted >= 0 || actual >= 0)) {
      print "busy GPU predicted faster in " phase; bad = 1 } }
  END { exit bad }'
# Scenarios without a GPU target print no such table.
"$SIM" --scenario link-flips --phases | grep -q "advantage over" &&
  { echo "advantage table without a GPU target"; exit 1; }
echo "ok"
