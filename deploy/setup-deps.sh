#!/usr/bin/env bash
# Installs the Debian 12 packages Stoa builds and tests with. Idempotent and
# quiet when nothing is missing; needs root (or sudo) only when something is.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git curl
  # libraries (DESIGN.md § Dependencies)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev libssl-dev
  libeigen3-dev libboost1.74-dev nlohmann-json3-dev libsimdjson-dev libyaml-cpp-dev
  libspdlog-dev libcli11-dev libonnx-dev libonnx-testdata wabt libjwt-dev
  # TLS: deploy/tls/make-dev-certs.sh
  openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  # WebAssembly examples: clang --target=wasm32-wasi
  clang lld wasi-libc libclang-rt-14-dev-wasm32
  # stoa-bench-wasm's musl row (the handlers native against wasi-libc's libc)
  musl-tools
  # tests and benchmarks: promtool, wrk; the example model's script
  prometheus wrk python3-onnx python3-sklearn python3-numpy
  # stoa-bench: report plots
  python3-matplotlib
  # the testbed launcher (deploy/testbed/testbed.py)
  python3-yaml
  # the MQTT bridge (gateway/events/mqtt_*) and its tests: Paho C/C++, Mosquitto
  libpaho-mqtt-dev libpaho-mqttpp-dev mosquitto mosquitto-clients
  # the cluster tests (tests/integration/cluster_test.cc): a real etcd and etcdctl
  etcd-server etcd-client
)

# Kubernetes manifests (tests/deploy/validate.sh): kubectl renders the
# Kustomize overlays, node runs the schema validators (fetched once by
# tests/deploy/fetch-validators.sh). A kubectl or node installed some other
# way (Google's packages, nodesource) is used as it is.
command -v kubectl >/dev/null || packages+=(kubernetes-client)
command -v node >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "stoa: installing ${#missing[@]} missing Debian packages: ${missing[*]}" >&2
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "stoa: packages installed" >&2
