#!/bin/sh
# The runner inside Stoa's GPU bundle (tests/gpu/make_bundle.sh, docs/gpu.md).
# POSIX sh: it needs no bash and nothing from the build machine.
#
#   ./run.sh [--skip-device-check]
#
# 1. Picks the C library: the GPU machine's when it is at least the version
#    the bundle needs (MANIFEST glibc_needed), else the bundled one through
#    the bundled loader. STOA_GPU_GLIBC=host|bundled forces either.
# 2. Checks that every binary's libraries resolve (the loader's --list).
# 3. Probes the device (nvidia-smi when present, then stoa-bench-gpu --probe).
#    Without one (or with --skip-device-check) it prints
#    "SKIPPED: no CUDA device", still runs the tests (their device cases skip,
#    the host-side ones run) and the CPU half of the benchmark, and exits 0
#    unless something failed. A GPU that nvidia-smi lists but CUDA cannot
#    use (driver too old for the bundle's runtime, ...) is a failure.
# 4. With a device: every CUDA test (the conformance pass list on CUDA, the
#    CUDA unit tests) and stoa-bench-gpu on the example models and models/
#    at batch 1, 8 and 32, CUDA against the CPU engine.
#
# Results go to $OUT (default ./results): results.txt (summary and the
# benchmark table), bench_raw.txt, probe.txt, libs.txt, tests/<name>.log and
# .xml, cuda_conformance_failures.txt. Exit status: 0 when every step passed,
# 1 when a test or a check failed.
#
# Environment: OUT; STOA_GPU_GLIBC; STOA_CUBLAS_LIBRARY (cuBLAS path, else
# searched in the CUDA toolkit's usual places); STOA_GPU_CPU_THREADS (CPU
# engine threads in the benchmark, default: all CPUs, at most 16);
# STOA_GPU_BENCH_ARGS (more stoa-bench-gpu flags); STOA_GPU_TIMEOUT (seconds
# per step, default 600).
set -u
here=$(cd "$(dirname "$0")" && pwd)
skip_device=0
for a in "$@"; do
  case $a in
    --skip-device-check) skip_device=1 ;;
    *) echo "usage: $0 [--skip-device-check]" >&2; exit 2 ;;
  esac
done
out=${OUT:-$here/results}
mkdir -p "$out/tests" || exit 1
summary=$out/results.txt
: > "$summary"
failures=0
say() { echo "$*"; echo "$*" >> "$summary"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
manifest() { sed -n "s/^$1=//p" "$here/MANIFEST"; }

# major.minor comparison: ver_ge A B is true when A >= B.
ver_ge() {
  a1=${1%%.*}; a2=${1#*.}; a2=${a2%%.*}
  b1=${2%%.*}; b2=${2#*.}; b2=${b2%%.*}
  [ "$a1" -gt "$b1" ] || { [ "$a1" -eq "$b1" ] && [ "$a2" -ge "$b2" ]; }
}

# The first place a CUDA toolkit library with this soname lives.
find_toolkit_lib() {
  for d in ${CUDA_HOME:+"$CUDA_HOME/lib64"} ${CUDA_PATH:+"$CUDA_PATH/lib64"} \
           /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
           /usr/local/cuda-*/lib64 /usr/local/cuda-*/targets/x86_64-linux/lib \
           /usr/lib/x86_64-linux-gnu /usr/lib64 /opt/conda/lib \
           /usr/local/lib/python3*/dist-packages/nvidia/cu*/lib \
           /usr/local/lib/python3*/dist-packages/nvidia/cublas/lib \
           /usr/lib/python3/dist-packages/nvidia/cublas/lib; do
    [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  command -v ldconfig >/dev/null 2>&1 &&
    ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n {print $NF; exit}'
}

say "Stoa GPU bundle: $(manifest commit), built $(manifest built)"
say "host: $(uname -srm), $(nproc 2>/dev/null || echo '?') CPUs, run $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# 1. The C library.
need=$(manifest glibc_needed)
host_glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
mode=${STOA_GPU_GLIBC:-auto}
if [ "$mode" = auto ]; then
  mode=bundled
  [ -n "$host_glibc" ] && ver_ge "$host_glibc" "$need" && mode=host
fi
loader=$here/lib/glibc/ld-linux-x86-64.so.2
[ "$mode" = host ] && loader=/lib64/ld-linux-x86-64.so.2  # the x86-64 ABI's fixed path
say "glibc: needs >= $need, host has ${host_glibc:-none}: using the $mode one ($loader)"

cuda_major=$(manifest cuda_runtime)
cublas=${STOA_CUBLAS_LIBRARY:-$(find_toolkit_lib "libcublas.so.$cuda_major")}
driver=$(find_toolkit_lib libcuda.so.1)
libpath=$here/lib
[ -n "$cublas" ] && libpath=$libpath:$(dirname "$cublas")
if [ "$mode" = bundled ]; then
  libpath=$here/lib:$here/lib/glibc${cublas:+:$(dirname "$cublas")}${driver:+:$(dirname "$driver")}
fi
if [ -n "$cublas" ]; then
  export STOA_CUBLAS_LIBRARY="$cublas"
  say "cuBLAS: $cublas"
else
  say "cuBLAS: libcublas.so.$cuda_major not found (set STOA_CUBLAS_LIBRARY): Gemm/MatMul cannot run on the device"
fi
say "CUDA driver library: ${driver:-not found}"

tmo=""
command -v timeout >/dev/null 2>&1 && tmo="timeout ${STOA_GPU_TIMEOUT:-600}"
# run_bin NAME ARGS...: one bundled binary under the chosen C library.
run_bin() {
  b=$here/bin/$1
  shift
  if [ "$mode" = bundled ]; then
    $tmo "$loader" --library-path "$libpath" "$b" "$@"
  else
    LD_LIBRARY_PATH=$libpath $tmo "$b" "$@"
  fi
}

# 2. Libraries resolve, and from where.
: > "$out/libs.txt"
for b in "$here"/bin/*; do
  if [ "$mode" = bundled ]; then
    listing=$("$loader" --library-path "$libpath" --list "$b" 2>&1)
  else
    listing=$(LD_LIBRARY_PATH=$libpath "$loader" --list "$b" 2>&1)
  fi
  rc=$?
  { echo "== $b"; echo "$listing"; } >> "$out/libs.txt"
  outside=$(echo "$listing" | awk '$2 == "=>" {print $3}' | grep -v "^$here/" |
            sed 's|.*/||' | tr '\n' ' ')
  if [ $rc -ne 0 ] || echo "$listing" | grep -q 'not found'; then
    fail "libraries of $(basename "$b") do not resolve (see libs.txt)"
  else
    say "libs ok: $(basename "$b")${outside:+ (from the host: $outside)}"
  fi
done

# 3. The device.
device=0
if [ "$skip_device" = 1 ]; then
  say "device check skipped (--skip-device-check)"
else
  smi_sees_gpu=0
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
      > "$out/nvidia-smi.txt" 2>&1 && [ -s "$out/nvidia-smi.txt" ] && smi_sees_gpu=1
    say "nvidia-smi: $(head -1 "$out/nvidia-smi.txt")"
  fi
  run_bin stoa-bench-gpu --probe > "$out/probe.txt" 2>&1 && device=1
  say "probe: $(head -1 "$out/probe.txt")"
  # A GPU the driver shows but CUDA cannot use (e.g. a driver older than the
  # bundle's CUDA runtime) is a failure, not a machine without a device.
  [ "$smi_sees_gpu" = 1 ] && [ "$device" = 0 ] &&
    fail "nvidia-smi shows a GPU but the CUDA runtime cannot use it (probe.txt)"
fi
[ "$device" = 1 ] || say "SKIPPED: no CUDA device: device tests skip, the benchmark runs on the CPU only"

# 4. Tests: every one runs; device cases skip without a device.
export STOA_SOURCE_DIR="$here/src" STOA_ONNX_TESTDATA="$here/testdata"
export STOA_CUDA_CONFORMANCE_REPORT="$out/cuda_conformance_failures.txt"
for t in $(manifest tests); do
  run_bin "$t" --gtest_output="xml:$out/tests/$t.xml" > "$out/tests/$t.log" 2>&1
  rc=$?
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out/tests/$t.log")
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out/tests/$t.log")
  line=$(grep -E 'of [0-9]+ pass-listed|CUDA backend accepts' "$out/tests/$t.log" | head -1)
  if [ $rc -eq 0 ]; then
    say "PASS $t: ${passed:-0} passed, ${skipped:-0} skipped${line:+ ($line)}"
  else
    fail "$t exited $rc (tests/$t.log):"
    grep -E '^\[  FAILED  \]|Failure|error' "$out/tests/$t.log" | head -20 | tee -a "$summary"
  fi
done

# 5. The benchmark.
threads=${STOA_GPU_CPU_THREADS:-$(nproc 2>/dev/null || echo 1)}
[ "$threads" -gt 16 ] && threads=16
if [ "$device" = 1 ]; then
  set -- --batches 1,8,32 --cpu-threads "$threads" --min-time-ms 300 --min-runs 5
else
  set -- --cpu-only --batches 1 --min-runs 3 --min-time-ms 0
fi
# shellcheck disable=SC2086  # STOA_GPU_BENCH_ARGS is a list of flags
run_bin stoa-bench-gpu --examples "$here/src/functions/examples" --models "$here/models" "$@" \
  --raw "$out/bench_raw.txt" ${STOA_GPU_BENCH_ARGS:-} > "$out/bench.txt" 2>&1
rc=$?
say ""
say "benchmark (stoa-bench-gpu $* ${STOA_GPU_BENCH_ARGS:-}):"
sed -n '/^model /,$p' "$out/bench.txt" | tee -a "$summary"
[ $rc -eq 0 ] || fail "stoa-bench-gpu exited $rc (bench.txt)"

say ""
if [ "$failures" -eq 0 ]; then
  [ "$device" = 1 ] && say "RESULT: PASS"
  [ "$device" = 1 ] || say "RESULT: PASS (SKIPPED: no CUDA device)"
  exit 0
fi
say "RESULT: FAIL ($failures failed step(s))"
exit 1
