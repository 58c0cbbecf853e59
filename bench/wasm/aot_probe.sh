#!/bin/sh
# Measures wasm2c ahead-of-time translation of the anomaly example (docs/wasm.md):
#   bench/wasm/aot_probe.sh BUILD_DIR
# translates BUILD_DIR/functions/examples/wasm/anomaly.wasm with wasm2c,
# compiles it (timed: the load-time cost AOT would add) and runs
# aot_probe_host.c for windows of 64 and 1024 readings.
set -eu
build=${1:?usage: aot_probe.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wasm2c "$build/functions/examples/wasm/anomaly.wasm" -o "$out/anomaly.c"
start=$(date +%s.%N)
gcc -O2 -w -c "$out/anomaly.c" -I"$out" -I/usr/share/wabt/wasm2c -o "$out/anomaly.o"
end=$(date +%s.%N)
echo "wasm2c output: $(wc -l < "$out/anomaly.c") lines of C; gcc -O2 took $(awk "BEGIN{print $end - $start}") s"
gcc -O2 -w "$src/bench/wasm/aot_probe_host.c" "$out/anomaly.o" "$src/functions/examples/wasm/anomaly.c" \
  -I"$out" -I/usr/share/wabt/wasm2c -I"$src/functions/examples/wasm" -lwasm-rt-impl -lm -o "$out/probe"
"$out/probe" 64
"$out/probe" 1024
