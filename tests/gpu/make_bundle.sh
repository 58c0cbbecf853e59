#!/usr/bin/env bash
# Builds the self-contained GPU test bundle (docs/gpu.md): the CUDA tests and
# stoa-bench-gpu, the shared libraries they load (glibc too, used only where
# the GPU machine's is older), the conformance data, the example models and
# optionally a model directory, plus the runner (tests/gpu/run.sh).
#
#   tests/gpu/make_bundle.sh [--no-build] [--models DIR]...
#                            [--model-set MANIFEST CACHE_DIR] BUILD_DIR OUT.tar.gz
#
# --models DIR copies every *.onnx (and its .onnx.inputs) under DIR.
# --model-set takes the real-model set (bench/models/models.json and the cache
# bench/models/fetch.sh fills): each model as models/set/NAME.onnx with a
# NAME.onnx.inputs made from the manifest's inputs (a leading dimension of 1
# becomes the batch N; fill "uniform" [lo, hi] or "value" v).
#
# BUILD_DIR must be configured with CUDA (nvcc found). Without --no-build the
# targets are built first; with it a missing binary exits 77 (skip). Not
# bundled: the CUDA driver (libcuda.so.1 belongs to the GPU machine) and
# cuBLAS (about 600 MB with cublasLt; opened at run time from the GPU
# machine's toolkit, functions/cuda/cublas_library.h). Fails when the bundle
# is over 64 MiB compressed, when a library does not resolve, or when a
# binary would load a library from outside the bundle other than glibc's and
# the driver's (checked with the bundled loader and the bundle's libraries
# only).
set -euo pipefail

usage() {
  echo "usage: $0 [--no-build] [--models DIR]... [--model-set MANIFEST CACHE_DIR] BUILD_DIR OUT.tar.gz" >&2
  exit 2
}
build=1
models=()
model_set=()
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-build) build=0; shift ;;
    --models) [[ $# -ge 2 ]] || usage; models+=("$2"); shift 2 ;;
    --model-set) [[ $# -ge 3 ]] || usage; model_set=("$(realpath "$2")" "$(realpath "$3")"); shift 3 ;;
    --*) usage ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ ${#args[@]} -eq 2 ]] || usage
set -- "${args[@]}"
build_dir=$(cd "$1" && pwd)
out=$(realpath -m "$2")
src=$(cd "$(dirname "$0")/../.." && pwd)
readonly max_bytes=$((64 * 1024 * 1024))

tests=(cuda_conformance_test cuda_conformance_shapes_test functions_cuda_cuda_device_test
       functions_cuda_cuda_graph_runner_test functions_cuda_cuda_onnx_runtime_test
       functions_cuda_cuda_plan_test functions_cuda_device_memory_pool_test
       functions_cuda_cublas_library_test)
benches=(stoa-bench-gpu)
# glibc's own libraries: bundled apart (lib/glibc), used only when the GPU
# machine's glibc is older than what the bundle needs.
glibc_re='^(ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1)$'

if ! compgen -G "$build_dir/CMakeFiles/*/CMakeCUDACompiler.cmake" >/dev/null; then
  echo "make_bundle: $build_dir is not configured with CUDA (nvcc was not found there)" >&2
  exit 1
fi
if [[ $build == 1 ]]; then
  cmake --build "$build_dir" --target "${tests[@]}" "${benches[@]}" -j"${STOA_BUILD_JOBS:-2}"
fi
for t in "${tests[@]}"; do
  [[ -x $build_dir/tests/$t ]] || { echo "make_bundle: SKIP: $build_dir/tests/$t not built" >&2; exit 77; }
done
for b in "${benches[@]}"; do
  [[ -x $build_dir/bin/$b ]] || { echo "make_bundle: SKIP: $build_dir/bin/$b not built" >&2; exit 77; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/stoa-gpu-bundle
mkdir -p "$root"/{bin,lib/glibc,src/tests/conformance,src/functions/examples,testdata,models}
for t in "${tests[@]}"; do cp "$build_dir/tests/$t" "$root/bin/"; done
for b in "${benches[@]}"; do cp "$build_dir/bin/$b" "$root/bin/"; done

# Shared libraries: what ldd resolves on this machine, transitively.
declare -A seen=()
for f in "$root"/bin/*; do
  while read -r name arrow path _; do
    [[ $arrow == "=>" ]] || continue
    [[ $path == "not" ]] && { echo "make_bundle: $f: $name not found" >&2; exit 1; }
    [[ -n ${seen[$name]:-} ]] && continue
    seen[$name]=1
    case $name in
      libcuda.so*|libnvidia*) continue ;;  # the GPU machine's driver
      libcublas*.so*) echo "make_bundle: $f links $name: it must be opened at run time" >&2; exit 1 ;;
    esac
    if [[ $name =~ $glibc_re ]]; then cp -L "$path" "$root/lib/glibc/$name"
    else cp -L "$path" "$root/lib/$name"; fi
  done < <(ldd "$f")
done
interp=$(readelf -l "$root/bin/stoa-bench-gpu" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
cp -L "$interp" "$root/lib/glibc/$(basename "$interp")"
if command -v patchelf >/dev/null; then
  # Drop the build machine's RUNPATH (e.g. /usr/local/cuda/lib): the bundle's lib/ only.
  # shellcheck disable=SC2016  # $ORIGIN is for the loader, not the shell
  for f in "$root"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib' "$f"; done
fi

# Data: the pass list, the examples, the pass-listed conformance tests, models.
cp "$src/tests/conformance/pass_list.txt" "$root/src/tests/conformance/"
for ex in digits lenet; do
  mkdir -p "$root/src/functions/examples/$ex"
  cp "$src/functions/examples/$ex/$ex.onnx" "$root/src/functions/examples/$ex/"
done
cp "$src/functions/examples/digits/test_split.csv" "$root/src/functions/examples/digits/"
testdata=${STOA_ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}
grep -v '^#' "$src/tests/conformance/pass_list.txt" | grep . | while read -r t; do
  [[ -d $testdata/$t ]] || continue
  mkdir -p "$root/testdata/$(dirname "$t")"
  cp -r "$testdata/$t" "$root/testdata/$t"
done
cp "$src/bench/scenarios/vision/vision.onnx" "$root/models/"
for d in "${models[@]}"; do
  [[ -d $d ]] || { echo "make_bundle: no models directory $d" >&2; exit 1; }
  (cd "$d" && find . -name '*.onnx' -o -name '*.onnx.inputs') | while read -r m; do
    mkdir -p "$root/models/$(basename "$d")/$(dirname "$m")"
    cp "$d/$m" "$root/models/$(basename "$d")/$m"
  done
done
if [[ ${#model_set[@]} -eq 2 ]]; then
  mkdir -p "$root/models/set"
  python3 - "${model_set[@]}" "$root/models/set" <<'PY' || { echo "make_bundle: bad model set" >&2; exit 1; }
import json, os, shutil, sys
manifest, cache, dest = sys.argv[1:4]
m = json.load(open(manifest))
version = {p["package"]: p["version"] for p in m["packages"]}
for x in m["models"]:
    pkg = x["package"]
    path = os.path.join(cache, "%s@%s" % (pkg.replace("/", "+"), version[pkg]), x["path"])
    shutil.copy(path, os.path.join(dest, x["name"] + ".onnx"))
    with open(os.path.join(dest, x["name"] + ".onnx.inputs"), "w") as f:
        for i in x["inputs"]:
            dims = [str(d) for d in i["shape"]]
            if dims and dims[0] == "1":
                dims[0] = "N"
            fill = i.get("fill", {})
            if "uniform" in fill:
                value = "%g:%g" % tuple(fill["uniform"])
            else:
                value = "%g" % fill.get("value", 0)
            f.write("%s %s %s\n" % (i["name"], ",".join(dims) or "-", value))
PY
fi
cp "$src/tests/gpu/run.sh" "$root/run.sh"
chmod +x "$root/run.sh"

# The newest glibc symbol version anything in the bundle needs (glibc's own
# libraries excluded): the runner compares it with the GPU machine's.
need=$(for f in "$root"/bin/* "$root"/lib/*.so*; do objdump -T "$f" 2>/dev/null; done |
       grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2,2n -u | tail -1 | sed 's/GLIBC_//')
{
  echo "commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "glibc_needed=$need"
  echo "glibc_bundled=$(getconf GNU_LIBC_VERSION | awk '{print $2}')"
  echo "cuda_runtime=$(ls "$root"/lib | sed -n 's/^libcudart\.so\.//p' | head -1)"
  echo "cuda_archs=$(grep -o 'code=\[compute_[0-9]*,sm_[0-9]*\]' "$build_dir/build.ninja" 2>/dev/null |
                     sed 's/.*sm_//; s/]//' | sort -u | tr '\n' ' ')"
  echo "tests=${tests[*]}"
  echo "benches=${benches[*]}"
} > "$root/MANIFEST"

# Self-containment: with the bundled loader and only the bundle's libraries,
# every binary's dependencies resolve inside the bundle.
for f in "$root"/bin/*; do
  listing=$("$root/lib/glibc/$(basename "$interp")" --library-path "$root/lib:$root/lib/glibc" \
            --list "$f" 2>&1) || { echo "make_bundle: $f does not resolve:" >&2; echo "$listing" >&2; exit 1; }
  outside=$(echo "$listing" | awk '$2 == "=>" {print $3}' | grep -v "^$root/" || true)
  if echo "$listing" | grep -q 'not found' || [[ -n $outside ]]; then
    echo "make_bundle: $f loads from outside the bundle:" >&2; echo "$listing" >&2; exit 1
  fi
done

mkdir -p "$(dirname "$out")"
tar -C "$stage" -czf "$out.tmp" stoa-gpu-bundle
size=$(stat -c %s "$out.tmp")
if (( size > max_bytes )); then
  rm -f "$out.tmp"
  echo "make_bundle: bundle is $size bytes, over the limit of $max_bytes" >&2
  exit 1
fi
mv "$out.tmp" "$out"
echo "make_bundle: $out: $size bytes ($(du -sh "$root" | cut -f1) unpacked), glibc >= $need or bundled"
