#!/usr/bin/env bash
# The whole GPU-bundle flow on a machine without a GPU (docs/gpu.md): build
# the bundle from BUILD_DIR's binaries (make_bundle.sh --no-build), unpack it
# into a fresh directory, and run its runner with the device check skipped
# under an empty environment (env -i PATH=/usr/bin:/bin), once on the host's
# C library and once on the bundled one. With --chroot it also runs the
# runner in a root holding nothing but the bundle and a static busybox
# (unshare -Ur + chroot), which proves it needs nothing from this machine.
#
#   tests/gpu/check_bundle.sh [--chroot] BUILD_DIR [WORK_DIR] [-- MAKE_BUNDLE_ARGS...]
#
# MAKE_BUNDLE_ARGS go to make_bundle.sh (e.g. --model-set MANIFEST CACHE).
#
# Exit 0 when every run passed and said "SKIPPED: no CUDA device", 77 when the
# binaries are not built (make_bundle.sh's skip), 1 otherwise.
set -euo pipefail
chroot_check=0
[[ ${1:-} == --chroot ]] && { chroot_check=1; shift; }
[[ $# -ge 1 ]] || { echo "usage: $0 [--chroot] BUILD_DIR [WORK_DIR] [-- ARGS...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
build_dir=$1
shift
work=""
if [[ $# -ge 1 && $1 != -- ]]; then work=$1; shift; fi
[[ ${1:-} == -- ]] && shift
if [[ -z $work ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
rm -rf "$work/unpacked" "$work/out-host" "$work/out-bundled" "$work/root"
mkdir -p "$work/unpacked"

rc=0
"$here/make_bundle.sh" --no-build "$@" "$build_dir" "$work/stoa-gpu-bundle.tar.gz" || rc=$?
[[ $rc -eq 0 ]] || exit "$rc"
tar -C "$work/unpacked" -xzf "$work/stoa-gpu-bundle.tar.gz"
bundle=$work/unpacked/stoa-gpu-bundle

expect_skip_pass() {  # expect_skip_pass OUT_DIR: the runner passed, device skipped
  if ! grep -q '^SKIPPED: no CUDA device' "$1/results.txt" ||
     ! grep -q '^RESULT: PASS' "$1/results.txt"; then
    echo "check_bundle: runner output in $1 lacks SKIPPED/PASS" >&2
    exit 1
  fi
}
for glibc in host bundled; do
  echo "== runner, env -i, $glibc glibc"
  env -i PATH=/usr/bin:/bin OUT="$work/out-$glibc" STOA_GPU_GLIBC=$glibc \
    sh "$bundle/run.sh" --skip-device-check
  expect_skip_pass "$work/out-$glibc"
done

if [[ $chroot_check == 1 ]]; then
  echo "== runner in a root with only the bundle and busybox"
  busybox=$(command -v busybox)
  file -L "$busybox" | grep -q 'statically linked' ||
    { echo "check_bundle: --chroot needs a static busybox (busybox-static)" >&2; exit 1; }
  mkdir -p "$work/root/bin" "$work/root/tmp" "$work/root/dev"
  touch "$work/root/dev/null"
  cp "$busybox" "$work/root/bin/busybox"
  for applet in sh awk sed grep tr head tee cat date uname nproc mkdir dirname basename timeout; do
    ln -s busybox "$work/root/bin/$applet"
  done
  cp -a "$bundle" "$work/root/bundle"
  # A user and mount namespace: /dev/null bound in, then chroot.
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  unshare -Urm sh -c 'mount --bind /dev/null "$1/dev/null" &&
    exec chroot "$1" /bin/busybox env -i PATH=/bin OUT=/out /bin/sh /bundle/run.sh' _ "$work/root"
  expect_skip_pass "$work/root/out"
fi
echo "check_bundle: OK ($(stat -c %s "$work/stoa-gpu-bundle.tar.gz") bytes)"
