#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries BINARY...
# link against (ldd, then dpkg -S), one per line: the run-time stage of the
# images installs exactly these, so an image carries the binary and what it
# needs, from Debian, as deploy/setup-deps.sh installs the build.
#
#   deploy/images/runtime-packages.sh build/release/bin/stoa-gateway > pkgs.txt
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 BINARY..." >&2; exit 2; }
for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "runtime-packages: $bin is not an executable" >&2; exit 1; }
  ldd "$bin" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  # /lib is a link to /usr/lib on Debian 12: ask dpkg about both spellings.
  dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || echo "runtime-packages: no package owns $lib" >&2
done | cut -d: -f1 | sort -u
