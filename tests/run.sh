#!/usr/bin/env bash
# Quick-start command 2: installs what is missing, builds everything
# (release preset: Ninja + ccache) and runs every test with ctest.
#   tests/run.sh                 # all tests
#   tests/run.sh -L unit         # one label (unit, integration, conformance, fuzz, gpu)
# Extra arguments go to ctest. STOA_PRESET picks another preset (asan, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "stoa: $*"; }
# ccache keys on paths relative to the checkout, so another clone (CI's
# fresh one) reuses the same cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}

preset=${STOA_PRESET:-release}
say "checking packages (installs what is missing)..."
deploy/setup-deps.sh
if [[ ! -d build/npm/deploy/node_modules/kubernetes-models ]]; then
  say "fetching the Kubernetes manifest validators (npm, once)..."
  tests/deploy/fetch-validators.sh ||
    say "could not fetch them: deploy_manifests_validate will be skipped" >&2
fi
say "configuring (cmake --preset $preset)..."
mkdir -p build
if ! cmake --preset "$preset" >"build/configure-$preset.log" 2>&1; then
  tail -30 "build/configure-$preset.log" >&2
  say "configuring failed; see build/configure-$preset.log" >&2
  exit 1
fi
say "building (the first build takes ~8 min on 2 cores; later ones seconds)..."
cmake --build --preset "$preset"
say "running tests..."
ctest --preset "$preset" -j "$(nproc)" "$@"
