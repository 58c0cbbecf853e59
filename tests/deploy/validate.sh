#!/usr/bin/env bash
# Renders every Kustomize overlay under deploy/k8s (and the base) with
# `kubectl kustomize` and validates every object against the Kubernetes API
# schemas (validate.mjs), after checking that the validator rejects
# testdata/invalid.yaml. Exit 0: all valid; 1: something invalid or a
# render failed; 77: skipped (kubectl, node or the validators missing: the
# message says which; tests never download, fetch-validators.sh does).
#
#   tests/deploy/validate.sh [NPM_DIR]    (default $STOA_DEPLOY_NPM or
#                                          build/npm/deploy)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
npm_dir=${1:-${STOA_DEPLOY_NPM:-$root/build/npm/deploy}}
py=/usr/bin/python3

skip() { echo "SKIPPED: $*" >&2; exit 77; }
command -v kubectl >/dev/null || skip "kubectl not found (deploy/setup-deps.sh installs kubernetes-client)"
command -v node >/dev/null || skip "node not found"
"$py" -c 'import yaml' 2>/dev/null || skip "$py without yaml (python3-yaml)"
[[ -d "$npm_dir/node_modules/kubernetes-models" && -d "$npm_dir/node_modules/@kubernetes-models/prometheus-operator" ]] ||
  skip "validators not installed in $npm_dir: run tests/deploy/fetch-validators.sh $npm_dir"

# ESM resolves packages from the script's directory upwards: run a copy.
cp "$here/validate.mjs" "$npm_dir/validate.mjs"
to_json() { "$py" -c 'import sys,yaml,json; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'; }

if to_json <"$here/testdata/invalid.yaml" | node "$npm_dir/validate.mjs" self-check >/tmp/stoa-validate-$$.txt; then
  cat /tmp/stoa-validate-$$.txt; rm -f /tmp/stoa-validate-$$.txt
  echo "FAILED: the validator accepted testdata/invalid.yaml" >&2; exit 1
fi
invalid=$(grep -c '^INVALID' /tmp/stoa-validate-$$.txt); rm -f /tmp/stoa-validate-$$.txt
[[ "$invalid" == 3 ]] || { echo "FAILED: the validator rejected $invalid of 3 bad objects" >&2; exit 1; }
echo "self-check: the validator rejects the 3 bad objects of testdata/invalid.yaml"

status=0
dirs=("$root/deploy/k8s/base")
for d in "$root"/deploy/k8s/overlays/*/; do dirs+=("${d%/}"); done
for d in "${dirs[@]}"; do
  name=${d#"$root"/deploy/k8s/}
  if ! rendered=$(kubectl kustomize "$d" 2>/tmp/stoa-kustomize-$$.txt); then
    echo "FAILED: kubectl kustomize $name:"; cat /tmp/stoa-kustomize-$$.txt; status=1; continue
  fi
  printf '%s\n' "$rendered" | to_json | node "$npm_dir/validate.mjs" "$name" || status=1
done
rm -f /tmp/stoa-kustomize-$$.txt
exit $status
