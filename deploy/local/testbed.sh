#!/usr/bin/env bash
# Builds Stoa (release) and runs the continuum testbed described by a YAML
# file: gateway, edge executor under a CPU quota, cloud executor, and the
# edge and cloud link emulators (see docs/testbed.md). Ctrl-C stops all.
#   deploy/local/testbed.sh [FILE]      (default deploy/testbed/4g.yaml)
set -euo pipefail
cd "$(dirname "$0")/../.."
file=${1:-deploy/testbed/4g.yaml}

deploy/setup-deps.sh
/usr/bin/python3 deploy/testbed/testbed.py check "$file"
cmake --preset release >/dev/null
cmake --build --preset release --target stoa-gateway stoa-executor stoa-linkem >/dev/null
exec /usr/bin/python3 deploy/testbed/testbed.py up "$file"
