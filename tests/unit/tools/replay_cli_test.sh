#!/bin/bash
# `stoa replay` on a trace recorded by `stoa-sim --trace-file` (the same
# DecisionTrace writer stoa-gateway uses): replays it through the policy that
# ran and through edge_only, and checks the scores are computed, differ,
# and that the replay of the live policy makes every live decision again;
# then the errors. Usage: replay_cli_test.sh STOA STOA_SIM
set -euo pipefail
STOA=$1
SIM=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$SIM" --scenario link-flips --trace-file "$DIR/t.jsonl" > "$DIR/sim.txt"
test -s "$DIR/t.jsonl"
"$STOA" replay "$DIR/t.jsonl" --policy predictive,edge_only > "$DIR/out.txt"
cat "$DIR/out.txt"
row() { grep "^| $1 |" "$DIR/out.txt"; }
field() { row "$1" | awk -F'|' -v n="$2" '{gsub(/ /, "", $(n+1)); print $(n+1)}'; }
# columns: 1 policy, 2 decisions, 3 scored, 4 accuracy, ..., 8 same tier as live, 10 edge/cloud
[ "$(field 'live (predictive)' 2)" = 2400 ]
[ "$(field predictive 2)" = 2400 ]
[ "$(field predictive 8)" = "100.0%" ] || { echo "replay of the live policy disagrees"; exit 1; }
[ "$(field predictive 4)" = "$(field 'live (predictive)' 4)" ]
[ "$(field edge_only 10)" = "2400/0" ]
[ "$(field edge_only 4)" != "$(field predictive 4)" ] || { echo "scores look constant"; exit 1; }
# The simulator's own placements for the live run are the replay's.
grep -q "^| predictive | .* | $(field predictive 10) |\$" "$DIR/sim.txt" ||
  { echo "placements differ from stoa-sim's"; grep '^| predictive' "$DIR/sim.txt"; exit 1; }

# A param is validated like PUT /v1/policy: exit 2, the field named.
set +e
"$STOA" replay "$DIR/t.jsonl" --policy predictive --param explore_budget=7 2> "$DIR/err.txt"
rc=$?
set -e
[ $rc = 2 ] && grep -q explore_budget "$DIR/err.txt"
# A malformed trace: exit 1, the line named.
echo 'not json' >> "$DIR/t.jsonl"
set +e
"$STOA" replay "$DIR/t.jsonl" --policy predictive 2> "$DIR/err.txt"
rc=$?
set -e
[ $rc = 1 ] && grep -q "line" "$DIR/err.txt"
echo OK
