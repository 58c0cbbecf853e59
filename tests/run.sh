#!/usr/bin/env bash
# Quick-start command 2: installs what is missing, builds everything
# (release preset: Ninja + ccache) and runs every test with ctest.
#   tests/run.sh                 # all tests
#   tests/run.sh -L unit         # one label (unit, integration, conformance, gpu)
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/setup-deps.sh
preset=${STOA_PRESET:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j "$(nproc)" "$@"
