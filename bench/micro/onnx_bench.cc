// stoa-bench-onnx: latency and throughput of the ONNX engine on the example
// models (functions/examples/digits MLP and lenet CNN), on one thread,
// through the public path (OnnxRuntime::Load, LoadedFunction::Invoke with
// v1::Tensor inputs, as an executor calls it).
//
//   stoa-bench-onnx [--examples DIR] [Google Benchmark flags]
//
// For each model and batch (1, 8, 32) it times every Invoke and reports the
// median (p50) per call; the last lines are one summary per case,
//   RESULT engine=stoa model=digits batch=8 p50_us=12.3 rows_per_s=650000
// the format bench/ort/ort_bench.mjs prints for ONNX Runtime, so that
// bench/compare_ort.sh can join them. Inputs are the first rows of
// functions/examples/digits/test_split.csv, identical for both engines.
// A model the engine refuses is reported and skipped.
#include <algorithm>
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

#include "benchmark/benchmark.h"
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

}  // namespace

int main(int argc, char** argv) {
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
  }
  int bench_argc = static_cast<int>(args.size());
  benchmark::Initialize(&bench_argc, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const auto& [key, line] : Results()) std::printf("%s\n", line.c_str());
  return 0;
}
