#!/usr/bin/env bash
# Installs the manifest validators validate.sh uses (npm, no install
# scripts run) into DIR, default build/npm/deploy: kubernetes-models (the
# Kubernetes API's OpenAPI-derived JSON schemas) and
# @kubernetes-models/prometheus-operator (ServiceMonitor). Needs the
# network once; the tests themselves never download (they skip without it).
#
#   tests/deploy/fetch-validators.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root/build/npm/deploy}
command -v npm >/dev/null || { echo "fetch-validators: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[[ -f package.json ]] || echo '{"private":true}' >package.json
npm install --ignore-scripts --no-audit --no-fund --silent \
  kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0
echo "fetch-validators: installed into $dir" >&2
