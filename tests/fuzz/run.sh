#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md).
#   tests/fuzz/run.sh TARGET|all [MINUTES]    # default: 1 minute each
# Configures and builds the `fuzz` preset (clang, libFuzzer, ASan, UBSan;
# only the *_fuzz targets), then runs each target for MINUTES as one process
# over its committed corpus. New inputs land in build/fuzz/corpus/<target>/
# and are merged (-merge=1, minimized) back into tests/fuzz/<target>/corpus/
# unless STOA_FUZZ_NO_MERGE=1. Crashes, leaks, timeouts and OOMs are written
# to tests/fuzz/<target>/crashes-found/. Prints exec/s, coverage and
# features, corpus size and findings per target.
# Environment: STOA_FUZZ_ARGS adds libFuzzer flags; STOA_FUZZ_JOBS builds
# with that many jobs (default 2); STOA_FUZZ_NO_BUILD=1 runs what is built
# (while another build of build/fuzz is going on); STOA_FUZZ_CHECK_JSON=0
# turns the strict JSON oracles off (fuzz_check.h).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "fuzz: $*"; }
all_targets=(http_request multipart kserve_codec kserve_binary spec_json policy_config onnx_load wasm_load
             linkem_control)
target=${1:-}
minutes=${2:-1}
if [[ -z $target ]]; then
  echo "usage: $0 TARGET|all [MINUTES]; targets: ${all_targets[*]}" >&2
  exit 2
fi
if [[ $target == all ]]; then targets=("${all_targets[@]}"); else targets=("$target"); fi

# Per-target limits: model and module loaders get small inputs and memory
# and time caps, so a bomb is a finding rather than a stalled run.
flags_for() {
  case $1 in
    onnx_load) echo "-max_len=4096 -rss_limit_mb=2048 -timeout=10 -malloc_limit_mb=1024" ;;
    wasm_load) echo "-max_len=16384 -rss_limit_mb=2048 -timeout=10" ;;
    http_request) echo "-max_len=8192 -rss_limit_mb=2048 -timeout=15" ;;
    *) echo "-max_len=8192 -rss_limit_mb=2048 -timeout=10" ;;
  esac
}

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD/..}
mkdir -p build
if [[ ${STOA_FUZZ_NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f build/fuzz/build.ninja ]]; then
    say "configuring (cmake --preset fuzz)..."
    cmake --preset fuzz >build/configure-fuzz.log 2>&1 || {
      tail -30 build/configure-fuzz.log >&2
      exit 1
    }
  fi
  say "building ${targets[*]}..."
  cmake --build build/fuzz -j "${STOA_FUZZ_JOBS:-2}" --target "${targets[@]/%/_fuzz}"
fi

summary=()
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz/${t}_fuzz
  seeds=tests/fuzz/$t/corpus
  work=build/fuzz/corpus/$t
  found=tests/fuzz/$t/crashes-found
  log=build/fuzz/$t.log
  mkdir -p "$work" "$found"
  say "$t: running ${minutes} min ($(ls "$seeds" | wc -l) seeds), log $log"
  # shellcheck disable=SC2046
  set +e
  started=$SECONDS
  "$bin" $(flags_for "$t") ${STOA_FUZZ_ARGS:-} \
    -max_total_time=$((minutes * 60)) -print_final_stats=1 \
    -artifact_prefix="$found/" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  ran=$((SECONDS - started))
  set -e
  # The last status line: "#N DONE|pulse cov: C ft: F corp: K/S exec/s: E ...".
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$last")
  findings=$(find "$found" -type f | wc -l)
  if [[ $rc -ne 0 ]]; then
    say "$t: STOPPED (rc $rc): $(grep -m1 -E 'ERROR: |fuzz oracle failed|CHECK failed|runtime error' "$log" || echo 'see log')"
  fi
  if [[ ${STOA_FUZZ_NO_MERGE:-0} != 1 ]]; then
    merged=$(mktemp -d)
    "$bin" $(flags_for "$t") -merge=1 "$merged" "$seeds" "$work" >"build/fuzz/$t.merge.log" 2>&1 || true
    # Merged files are named by their SHA-1; keep the named seeds and add
    # only what the corpus lacks.
    declare -A have=()
    for f in "$seeds"/*; do have[$(sha1sum <"$f" | cut -c1-40)]=1; done
    for f in "$merged"/*; do
      [[ -e $f && -z ${have[$(basename "$f")]:-} ]] && cp "$f" "$seeds/"
    done
    unset have
    rm -rf "$merged"
  fi
  line="$t: ran ${ran} s of ${minutes} min, ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corp ${corp:-?}, corpus now $(ls "$seeds" | wc -l) files / $(du -sh "$seeds" | cut -f1), findings $findings (rc $rc)"
  say "$line"
  summary+=("$line")
done
say "summary:"
printf '  %s\n' "${summary[@]}"
