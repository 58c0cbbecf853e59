// stoa-bench-onnx: latency and throughput of the ONNX engine on the example
// models (functions/examples/digits MLP and lenet CNN), on one thread,
// through the public path (OnnxRuntime::Load, LoadedFunction::Invoke with
// v1::Tensor inputs, as an executor calls it).
//
//   stoa-bench-onnx [--examples DIR] [Google Benchmark flags]
//   stoa-bench-onnx --model-file FILE --input ... (one real model: model_bench.h)
//
// For each model and batch (1, 8, 32) it times every Invoke and reports the
// median (p50) per call; the last lines are one summary per case,
//   RESULT engine=stoa model=digits batch=8 p50_us=12.3 rows_per_s=650000
// the format bench/ort/ort_bench.mjs prints for ONNX Runtime, so that
// bench/compare_ort.sh can join them. Inputs are the first rows of
// functions/examples/digits/test_split.csv, identical for both engines.
// A model the engine refuses is reported and skipped.
//
// executor/<model>/max_batch:B: requests/s through an InProcessExecutor with
// one worker thread, 256 single-row requests in flight at once, with dynamic
// batching off (B = 1) or on (B = 32, max_delay_us 2000): what batching buys
// a loaded executor.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "bench/micro/model_bench.h"
#include "benchmark/benchmark.h"
#include "executors/in_process_executor.h"
#include "functions/function_runtime.h"

namespace {

namespace fs = std::filesystem;
using stoa::functions::InvocationInput;
using stoa::functions::LoadedFunction;

struct ModelCase {
  std::string name;                // "digits" | "lenet"
  std::string file;                // relative to the examples dir
  std::vector<int64_t> row_shape;  // shape of one row after the batch dimension
};

const std::vector<ModelCase>& Models() {
  static const std::vector<ModelCase> models = {
      {"digits", "digits/digits.onnx", {64}},
      {"lenet", "lenet/lenet.onnx", {1, 8, 8}},
  };
  return models;
}

std::vector<std::vector<float>> ReadImages(const fs::path& csv_path, size_t max_rows) {
  std::vector<std::vector<float>> rows;
  std::ifstream csv(csv_path);
  std::string line;
  while (rows.size() < max_rows && std::getline(csv, line)) {
    std::vector<float> values;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) {
      char* end = nullptr;
      const float v = std::strtof(field.c_str(), &end);
      if (end == field.c_str()) break;
      values.push_back(v);
    }
    if (values.size() != 65) continue;
    values.pop_back();  // the label
    rows.push_back(std::move(values));
  }
  return rows;
}

struct Loaded {
  std::unique_ptr<LoadedFunction> fn;
  std::string input_name;
  std::string error;
};

std::map<std::string, std::string>& Results() {
  static std::map<std::string, std::string> results;
  return results;
}

void RunCase(benchmark::State& state, LoadedFunction* fn, const std::string& input_name,
             const ModelCase& model, const std::vector<std::vector<float>>& images) {
  const int64_t batch = state.range(0);
  InvocationInput input;
  stoa::v1::Tensor& t = input.tensors.emplace_back();
  t.set_name(input_name);
  t.set_datatype(stoa::v1::FP32);
  t.add_shape(batch);
  for (int64_t d : model.row_shape) t.add_shape(d);
  std::string raw;
  for (int64_t i = 0; i < batch; ++i) {
    const std::vector<float>& img = images[static_cast<size_t>(i) % images.size()];
    raw.append(reinterpret_cast<const char*>(img.data()), img.size() * sizeof(float));
  }
  t.set_raw(std::move(raw));

  std::vector<double> us;
  us.reserve(1 << 16);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto out = fn->Invoke(input);
    const auto end = std::chrono::steady_clock::now();
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(out);
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  if (us.empty()) return;
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  const double p50 = us[us.size() / 2];
  state.counters["p50_us"] = p50;
  state.counters["rows_per_s"] = static_cast<double>(batch) * 1e6 / p50;
  state.SetItemsProcessed(state.iterations() * batch);
  char line[256];
  std::snprintf(line, sizeof(line),
                "RESULT engine=stoa model=%s batch=%lld p50_us=%.2f rows_per_s=%.0f",
                model.name.c_str(), static_cast<long long>(batch), p50,
                static_cast<double>(batch) * 1e6 / p50);
  // The last run of a case wins (Google Benchmark may run a case more than once).
  Results()[model.name + "/" + std::to_string(100 + batch)] = line;
}

// Throughput of a one-thread executor under 256 concurrent single-row requests.
void RunExecutorCase(benchmark::State& state, const std::string& artifact, const ModelCase& model,
                     const std::vector<std::vector<float>>& images) {
  const int64_t max_batch = state.range(0);
  stoa::functions::RuntimeSet runtimes = stoa::functions::DefaultRuntimes();
  stoa::executors::InProcessExecutor ex(runtimes, {1, "cpu", ""}, nullptr);
  stoa::v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name(model.name);
  load.mutable_spec()->set_runtime("onnx");
  load.mutable_spec()->mutable_batching()->set_max_batch(static_cast<uint32_t>(max_batch));
  load.mutable_spec()->mutable_batching()->set_max_delay_us(2000);
  load.set_artifact(artifact);
  absl::BlockingCounter loaded(1);
  ex.LoadFunction(load,
                  [&](absl::StatusOr<stoa::v1::LoadFunctionResponse>) { loaded.DecrementCount(); });
  loaded.Wait();
  constexpr int kInFlight = 256;
  std::vector<stoa::v1::InvokeRequest> requests(kInFlight);
  for (int i = 0; i < kInFlight; ++i) {
    requests[i].set_function(model.name);
    stoa::v1::Tensor* t = requests[i].add_inputs();
    t->set_name("pixels");
    t->set_datatype(stoa::v1::FP32);
    t->add_shape(1);
    for (int64_t d : model.row_shape) t->add_shape(d);
    const std::vector<float>& img = images[static_cast<size_t>(i) % images.size()];
    t->set_raw(img.data(), img.size() * sizeof(float));
  }
  int64_t failed = 0;
  for (auto _ : state) {
    absl::BlockingCounter done(kInFlight);
    std::atomic<int64_t> errors{0};
    for (const auto& r : requests) {
      ex.Invoke(r, [&](absl::StatusOr<stoa::v1::InvokeResponse> out) {
        if (!out.ok()) errors.fetch_add(1);
        done.DecrementCount();
      });
    }
    done.Wait();
    failed += errors.load();
  }
  if (failed > 0) state.SkipWithError("invocations failed");
  state.SetItemsProcessed(state.iterations() * kInFlight);
  state.counters["requests_per_s"] = benchmark::Counter(
      static_cast<double>(kInFlight), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  if (stoa::bench::WantsModelMode(argc, argv)) return stoa::bench::RunModelMode(argc, argv);
  fs::path examples;
  if (const char* src = std::getenv("STOA_SOURCE_DIR"))
    examples = fs::path(src) / "functions/examples";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--examples") == 0 && i + 1 < argc) {
      examples = argv[++i];
      continue;
    }
    args.push_back(argv[i]);
  }
  if (examples.empty()) {
    // The binary lives in build/<preset>/bin; the sources are three levels up.
    examples =
        fs::weakly_canonical(fs::path(argv[0])).parent_path() / "../../../functions/examples";
  }
  const std::vector<std::vector<float>> images = ReadImages(examples / "digits/test_split.csv", 32);
  if (images.empty()) {
    std::fprintf(stderr, "no images in %s\n", (examples / "digits/test_split.csv").c_str());
    return 1;
  }
  stoa::functions::RuntimeSet runtimes = stoa::functions::DefaultRuntimes();
  static std::vector<Loaded> loaded;  // outlives the registered benchmarks
  loaded.resize(Models().size());
  for (size_t m = 0; m < Models().size(); ++m) {
    const ModelCase& model = Models()[m];
    std::ifstream file(examples / model.file, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    stoa::v1::FunctionSpec spec;
    spec.set_name(model.name);
    spec.set_runtime("onnx");
    auto fn = runtimes.Load(spec, bytes.str());
    if (!fn.ok()) {
      std::fprintf(stderr, "skipping %s: %s\n", model.name.c_str(),
                   std::string(fn.status().message()).c_str());
      continue;
    }
    loaded[m].input_name = (*fn)->spec().inputs(0).name();
    loaded[m].fn = *std::move(fn);
    benchmark::RegisterBenchmark(("onnx/" + model.name).c_str(),
                                 [m, &images](benchmark::State& state) {
                                   RunCase(state, loaded[m].fn.get(), loaded[m].input_name,
                                           Models()[m], images);
                                 })
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(8)
        ->Arg(32)
        ->MinTime(0.5)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("executor/" + model.name).c_str(),
                                 [m, artifact = bytes.str(), &images](benchmark::State& state) {
                                   RunExecutorCase(state, artifact, Models()[m], images);
                                 })
        ->ArgName("max_batch")
        ->Arg(1)
        ->Arg(32)
        ->MinTime(0.5)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  int bench_argc = static_cast<int>(args.size());
  benchmark::Initialize(&bench_argc, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const auto& [key, line] : Results()) std::printf("%s\n", line.c_str());
  return 0;
}
