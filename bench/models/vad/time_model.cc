// stoa-time-onnx: the engine's p50 time for one model on one thread, with
// every input filled deterministically (FP32: sin(0.1·i), INT64/INT32: 1,
// BOOL: true; symbolic dimensions 1), for comparisons with ONNX Runtime on
// the same fill (bench/models/time_ort.mjs, bench/models/rnn_bench.sh).
//
//   stoa-time-onnx MODEL [RUNS]
//
// Prints one JSON object: {"engine":"stoa","p50_us":...,"outputs":[[first
// values of each output]],"sums":[sum of each FP32 output]}.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/large_buffers.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/op_registry.h"

namespace {

using stoa::functions::onnx::ElementType;
using stoa::functions::onnx::Tensor;

Tensor Fill(const stoa::functions::onnx::GraphPort& port) {
  stoa::functions::onnx::Shape shape = port.shape;
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  Tensor t = Tensor::Empty(port.type, shape);
  const int64_t n = t.size();
  switch (port.type) {
    case ElementType::kFloat32:
      for (int64_t i = 0; i < n; ++i)
        t.mutable_floats()[i] = std::sin(0.1f * static_cast<float>(i));
      break;
    case ElementType::kInt64:
      for (int64_t i = 0; i < n; ++i) t.mutable_int64s()[i] = 1;
      break;
    case ElementType::kBool:
      for (int64_t i = 0; i < n; ++i) t.mutable_bools()[i] = 1;
      break;
    default:
      break;
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: stoa-time-onnx MODEL [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 200;
  // As the servers do (gateway_main.cc, executor_main.cc): without it every
  // run maps its intermediate tensors afresh and faults them in (vision.onnx:
  // 8.1 ms a run instead of 1.1 ms on a VM where a page fault costs µs).
  stoa::common::KeepLargeBuffers();
  std::ifstream in(argv[1], std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    std::fprintf(stderr, "%s does not parse\n", argv[1]);
    return 1;
  }
  const auto registry = stoa::functions::onnx::DefaultOpRegistry();
  auto graph = stoa::functions::onnx::BuildGraph(model, registry);
  if (!graph.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(graph.status().message()).c_str());
    return 1;
  }
  std::vector<Tensor> inputs;
  for (const auto& port : graph->inputs) inputs.push_back(Fill(port));
  std::vector<double> times_us;
  std::vector<Tensor> last;
  for (int r = 0; r < runs + 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    auto out = stoa::functions::onnx::RunGraph(*graph, inputs, stoa::common::RealClock::Get(), 0);
    const auto end = std::chrono::steady_clock::now();
    if (!out.ok()) {
      std::fprintf(stderr, "run: %s\n", std::string(out.status().message()).c_str());
      return 1;
    }
    if (r >= 5) times_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    last = *std::move(out);
  }
  std::sort(times_us.begin(), times_us.end());
  std::printf("{\"engine\":\"stoa\",\"p50_us\":%.2f,\"outputs\":[", times_us[times_us.size() / 2]);
  for (size_t k = 0; k < last.size(); ++k) {
    std::printf("%s[", k ? "," : "");
    const auto v =
        last[k].type() == ElementType::kFloat32 ? last[k].floats() : std::span<const float>();
    for (size_t i = 0; i < v.size() && i < 8; ++i) std::printf("%s%.7g", i ? "," : "", v[i]);
    std::printf("]");
  }
  std::printf("],\"sums\":[");
  for (size_t k = 0; k < last.size(); ++k) {
    double sum = 0;
    if (last[k].type() == ElementType::kFloat32) {
      for (float x : last[k].floats()) sum += x;
    }
    std::printf("%s%.7g", k ? "," : "", sum);
  }
  std::printf("]}\n");
  return 0;
}
