#!/usr/bin/env bash
# Builds Stoa (release) and runs the continuum testbed described by a YAML
# file: gateway, edge executor under a CPU quota, cloud executor, and the
# edge and cloud link emulators (see docs/testbed.md). Ctrl-C stops all.
#   deploy/local/testbed.sh [FILE]      (default deploy/testbed/4g.yaml)
set -euo pipefail
cd "$(dirname "$0")/../.."
file=${1:-deploy/testbed/4g.yaml}

echo "stoa: checking packages (installs what is missing)..."
deploy/setup-deps.sh
/usr/bin/python3 deploy/testbed/testbed.py check "$file"
echo "stoa: configuring (cmake --preset release)..."
mkdir -p build
if ! cmake --preset release >build/testbed-configure.log 2>&1; then
  tail -30 build/testbed-configure.log >&2
  echo "stoa: configuring failed; see build/testbed-configure.log" >&2
  exit 1
fi
echo "stoa: building the gateway, executor and link emulator (the first build takes minutes)..."
cmake --build --preset release --target stoa-gateway stoa-executor stoa-linkem
exec /usr/bin/python3 deploy/testbed/testbed.py up "$file"
