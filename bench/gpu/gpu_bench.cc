// stoa-bench-gpu: each model on the CPU engine and on the CUDA backend at
// batch 1, 8 and 32 (the engine alone: onnx::RunGraph against
// CudaGraphRunner::Run, onnx::Tensor in and out, host copies included on the
// GPU side), with the GPU's outputs checked against the CPU's.
//
//   stoa-bench-gpu [--examples DIR] [--models DIR]... [--model FILE]...
//                  [--batches 1,8,32] [--min-time-ms 500] [--min-runs 10]
//                  [--cpu-threads 1]
//                  [--cpu-only] [--raw FILE]
//   stoa-bench-gpu --probe    (prints the device; exit 0 with one, 3 without)
//
// Models: the example models under --examples (default
// $STOA_SOURCE_DIR/functions/examples), every *.onnx under each --models
// directory (the real-model set, bench/models/), and each --model file.
// Inputs: each graph input gets its declared shape with the batch size in
// place of a symbolic first dimension and deterministic values (FP32 in
// [0, 1), integers 0, BOOL false); a sidecar file MODEL.onnx.inputs overrides
// that with lines "name d0,d1,... [fill]" ("-" for a scalar), where "N"
// stands for the batch and fill is either the value every element gets or
// "lo:hi", uniform values in [lo, hi) (FP32). A model whose first dimension
// is fixed runs only at that batch size.
//
// With a device, a model the CUDA backend does not take runs on the CPU at
// the first batch size only.
//
// Output: one line per case and engine,
//   RESULT engine=cuda model=lenet batch=8 p50_us=41.2 rows_per_s=194000
// then a table (model, batch, CPU p50, CUDA p50, CPU/CUDA, max |diff|).
// Without a device, or for a model the CUDA backend does not support, the
// CUDA column says why and only the CPU runs. Exit status: 0, or 1 when the
// GPU's outputs differ from the CPU's (|d| > 1e-4 + 1e-3 |cpu|) or a run
// fails, 2 for bad arguments.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "functions/cuda/cuda_device.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "functions/cuda/cuda_plan.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/parallel.h"

namespace {

namespace fs = std::filesystem;
namespace onnx = stoa::functions::onnx;
namespace cuda = stoa::functions::cuda;

struct Options {
  fs::path examples;
  std::vector<fs::path> model_dirs;
  std::vector<fs::path> model_files;
  std::vector<int64_t> batches = {1, 8, 32};
  double min_time_ms = 500;
  int min_runs = 10;
  int cpu_threads = 1;
  bool cpu_only = false;
  bool probe = false;
  std::string raw_path;
};

struct InputOverride {
  std::string name;
  std::vector<std::string> dims;  // "N" or a number
  double lo = 0, hi = 1;          // FP32 values uniform in [lo, hi); lo == hi: constant
};

struct Model {
  std::string name;
  fs::path path;
  std::unique_ptr<onnx::Graph> graph;
  std::vector<InputOverride> overrides;
};

struct Row {
  std::string model;
  int64_t batch = 0;
  double cpu_us = -1, cuda_us = -1, max_diff = -1;
  std::string note;
};

absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  Options o;
  if (const char* src = std::getenv("STOA_SOURCE_DIR")) {
    o.examples = fs::path(src) / "functions/examples";
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cpu-only" || a == "--probe") {
      (a == "--probe" ? o.probe : o.cpu_only) = true;
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(a, " needs a value"));
    const std::string v = argv[++i];
    bool ok = true;
    if (a == "--examples") {
      o.examples = v;
    } else if (a == "--models") {
      o.model_dirs.push_back(v);
    } else if (a == "--model") {
      o.model_files.push_back(v);
    } else if (a == "--raw") {
      o.raw_path = v;
    } else if (a == "--min-time-ms") {
      ok = absl::SimpleAtod(v, &o.min_time_ms) && o.min_time_ms >= 0;
    } else if (a == "--min-runs") {
      ok = absl::SimpleAtoi(v, &o.min_runs) && o.min_runs >= 1;
    } else if (a == "--cpu-threads") {
      ok = absl::SimpleAtoi(v, &o.cpu_threads) && o.cpu_threads >= 1;
    } else if (a == "--batches") {
      o.batches.clear();
      for (absl::string_view b : absl::StrSplit(v, ',')) {
        int64_t n = 0;
        ok = ok && absl::SimpleAtoi(b, &n) && n >= 1;
        o.batches.push_back(n);
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", a));
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad value for ", a, ": ", v));
  }
  return o;
}

std::vector<InputOverride> ReadOverrides(const fs::path& model_path) {
  std::vector<InputOverride> out;
  std::ifstream f(model_path.string() + ".inputs");
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (words.size() < 2 || words[0][0] == '#') continue;
    InputOverride o;
    o.name = words[0];
    if (words[1] != "-") o.dims = absl::StrSplit(words[1], ',', absl::SkipEmpty());
    if (words.size() > 2) {
      std::vector<std::string> range = absl::StrSplit(words[2], ':');
      const bool ok = absl::SimpleAtod(range[0], &o.lo) &&
                      absl::SimpleAtod(range.size() > 1 ? range[1] : range[0], &o.hi);
      if (!ok) {
        o.lo = 0;
        o.hi = 1;
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

absl::StatusOr<Model> LoadModel(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::stringstream bytes;
  bytes << file.rdbuf();
  ::onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes.str())) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " is not an ONNX model"));
  }
  absl::StatusOr<onnx::Graph> graph = onnx::BuildGraph(proto, onnx::DefaultOpRegistry());
  if (!graph.ok()) return graph.status();
  Model m;
  m.name = path.stem().string();
  m.path = path;
  m.graph = std::make_unique<onnx::Graph>(*std::move(graph));
  m.overrides = ReadOverrides(path);
  return m;
}

std::vector<fs::path> ModelPaths(const Options& o) {
  std::vector<fs::path> paths;
  for (const char* example : {"digits/digits.onnx", "lenet/lenet.onnx"}) {
    if (!o.examples.empty() && fs::exists(o.examples / example)) {
      paths.push_back(o.examples / example);
    }
  }
  for (const fs::path& dir : o.model_dirs) {
    std::vector<fs::path> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file() && it->path().extension() == ".onnx") found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    paths.insert(paths.end(), found.begin(), found.end());
  }
  paths.insert(paths.end(), o.model_files.begin(), o.model_files.end());
  return paths;
}

// Input `port` at `batch`; FAILED_PRECONDITION when the model cannot take
// that batch (a fixed first dimension, declared or given).
absl::StatusOr<onnx::Tensor> MakeInput(const onnx::GraphPort& port, const Model& m, int64_t batch) {
  onnx::Shape shape = port.shape;
  double lo = 0, hi = 1;
  for (const InputOverride& o : m.overrides) {
    if (o.name != port.name) continue;
    shape.clear();
    for (const std::string& d : o.dims) {
      int64_t n = 0;
      if (d == "N") n = batch;
      if (d != "N" && !absl::SimpleAtoi(d, &n)) {
        return absl::InvalidArgumentError(absl::StrCat("bad dimension '", d, "' for ", o.name));
      }
      shape.push_back(n);
    }
    lo = o.lo;
    hi = o.hi;
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] >= 0) continue;
    if (i != 0) {
      return absl::InvalidArgumentError(absl::StrCat("input ", port.name,
                                                     " has symbolic dimension ", i, ": give it in ",
                                                     m.name, ".onnx.inputs"));
    }
    shape[i] = batch;
  }
  const bool declared_fixed = !port.shape.empty() && port.shape[0] >= 0;
  if (batch != 1 && !shape.empty() &&
      (shape[0] != batch || (declared_fixed && port.shape[0] != batch))) {
    return absl::FailedPreconditionError(absl::StrCat("fixed batch ", shape[0]));
  }
  onnx::Tensor t = onnx::Tensor::Empty(port.type, shape);
  if (port.type == onnx::ElementType::kFloat32) {
    auto v = t.mutable_floats();
    uint32_t state = 12345;
    for (float& x : v) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(lo + (hi - lo) * (state >> 8) / 16777216.0);
    }
  } else if (port.type == onnx::ElementType::kInt64) {
    for (int64_t& x : t.mutable_int64s()) x = lo == hi ? static_cast<int64_t>(lo) : 0;
  }
  return t;
}

// Median microseconds per call of `fn`, run for at least min_time_ms and
// min_runs calls after 2 warm-up calls; the first error stops it.
absl::StatusOr<double> TimeCalls(const std::function<absl::Status()>& fn, const Options& o) {
  const size_t min_runs = static_cast<size_t>(o.min_runs);
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = fn(); !s.ok()) return s;
  }
  std::vector<double> us;
  const auto begin = std::chrono::steady_clock::now();
  auto elapsed_ms = [&begin] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin)
        .count();
  };
  while (us.size() < min_runs || (elapsed_ms() < o.min_time_ms && us.size() < 100000)) {
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = fn(); !s.ok()) return s;
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  return us[us.size() / 2];
}

double MaxDiff(const std::vector<onnx::Tensor>& cpu, const std::vector<onnx::Tensor>& gpu,
               bool* within_tolerance) {
  double worst = 0;
  *within_tolerance = cpu.size() == gpu.size();
  for (size_t o = 0; o < cpu.size() && o < gpu.size(); ++o) {
    if (cpu[o].shape() != gpu[o].shape() || cpu[o].type() != onnx::ElementType::kFloat32 ||
        gpu[o].type() != onnx::ElementType::kFloat32) {
      *within_tolerance = false;
      continue;
    }
    auto a = cpu[o].floats();
    auto b = gpu[o].floats();
    for (size_t i = 0; i < a.size(); ++i) {
      const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
      if (!(d <= 1e-4 + 1e-3 * std::fabs(a[i]))) *within_tolerance = false;
      worst = std::max(worst, std::isnan(d) ? INFINITY : d);
    }
  }
  return worst;
}

void PrintResult(const char* engine, const Row& r, double us, std::FILE* raw) {
  const std::string line =
      absl::StrCat("RESULT engine=", engine, " model=", r.model, " batch=", r.batch,
                   " p50_us=", absl::StrFormat("%.2f", us),
                   " rows_per_s=", absl::StrFormat("%.0f", r.batch * 1e6 / us));
  std::printf("%s\n", line.c_str());
  if (raw != nullptr) std::fprintf(raw, "%s\n", line.c_str());
}

struct Engines {
  const Options* options;
  onnx::Parallelism cpu;
  absl::Status device;  // OK when a CUDA device answers
  std::FILE* raw;
};

// Runs one model at one batch on both engines; false when the GPU's answer
// is wrong or a run failed.
bool BenchCase(const Model& m, int64_t batch, cuda::CudaGraphRunner* gpu,
               const std::string& gpu_note, const Engines& e, Row& row) {
  row.model = m.name;
  row.batch = batch;
  std::vector<onnx::Tensor> inputs;
  for (const onnx::GraphPort& port : m.graph->inputs) {
    absl::StatusOr<onnx::Tensor> t = MakeInput(port, m, batch);
    if (!t.ok()) {  // e.g. a fixed first dimension: not this batch
      row.note = std::string(t.status().message());
      return true;
    }
    inputs.push_back(*std::move(t));
  }
  std::vector<onnx::Tensor> cpu_out;
  absl::StatusOr<double> cpu_us = TimeCalls(
      [&]() -> absl::Status {
        onnx::ScopedParallelism scope(e.cpu);
        absl::StatusOr<std::vector<onnx::Tensor>> out =
            onnx::RunGraph(*m.graph, inputs, stoa::common::RealClock::Get(), 0);
        if (!out.ok()) return out.status();
        cpu_out = *std::move(out);
        return absl::OkStatus();
      },
      *e.options);
  if (!cpu_us.ok()) {  // reported; the CPU engine's own tests judge it
    row.note = absl::StrCat("cpu: ", cpu_us.status().message());
    return true;
  }
  row.cpu_us = *cpu_us;
  PrintResult("cpu", row, row.cpu_us, e.raw);
  if (gpu == nullptr) {
    row.note = gpu_note;
    return true;
  }
  std::vector<onnx::Tensor> gpu_out;
  absl::StatusOr<double> gpu_us = TimeCalls(
      [&]() -> absl::Status {
        absl::StatusOr<std::vector<onnx::Tensor>> out = gpu->Run(inputs);
        if (!out.ok()) return out.status();
        gpu_out = *std::move(out);
        return absl::OkStatus();
      },
      *e.options);
  if (!gpu_us.ok()) {
    row.note = absl::StrCat("cuda: ", gpu_us.status().message());
    return absl::IsUnimplemented(gpu_us.status());  // those shapes run on the CPU
  }
  row.cuda_us = *gpu_us;
  PrintResult("cuda", row, row.cuda_us, e.raw);
  bool within = false;
  row.max_diff = MaxDiff(cpu_out, gpu_out, &within);
  if (!within) row.note = "MISMATCH: GPU outputs differ from the CPU's";
  return within;
}

std::string Cell(double v, const char* fmt) {
  return v < 0 ? std::string("-") : absl::StrFormat(fmt, v);
}

void PrintTable(const std::vector<Row>& rows, std::FILE* raw) {
  std::string table = absl::StrFormat("%-24s %5s %12s %12s %9s %10s  %s\n", "model", "batch",
                                      "cpu_p50_us", "cuda_p50_us", "cpu/cuda", "max_diff", "note");
  for (const Row& r : rows) {
    const double ratio = r.cpu_us > 0 && r.cuda_us > 0 ? r.cpu_us / r.cuda_us : -1;
    table += absl::StrFormat("%-24s %5d %12s %12s %9s %10s  %s\n", r.model, r.batch,
                             Cell(r.cpu_us, "%.1f"), Cell(r.cuda_us, "%.1f"), Cell(ratio, "%.2f"),
                             Cell(r.max_diff, "%.1e"), r.note);
  }
  std::printf("\n%s", table.c_str());
  if (raw != nullptr) std::fprintf(raw, "\n%s", table.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<Options> options = ParseArgs(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "stoa-bench-gpu: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<stoa::functions::onnx::IntraOpPool> pool;
  if (options->cpu_threads > 1) {
    pool = std::make_unique<stoa::functions::onnx::IntraOpPool>(options->cpu_threads - 1);
  }
  Engines e{&*options, {pool.get(), options->cpu_threads}, absl::OkStatus(), nullptr};
  if (options->cpu_only) {
    e.device = absl::UnavailableError("not used (--cpu-only)");
  } else if (absl::StatusOr<cuda::CudaDeviceInfo> d = cuda::ProbeCudaDevice(); !d.ok()) {
    e.device = d.status();
  } else {
    std::printf("device: %s (%zu MiB, sm_%d%d)\n", d->name.c_str(), d->memory_bytes >> 20,
                d->cc_major, d->cc_minor);
  }
  if (!e.device.ok()) {
    std::printf("cuda: %s\n", std::string(e.device.message()).c_str());
  }
  if (options->probe) return e.device.ok() ? 0 : 3;
  if (!options->raw_path.empty()) e.raw = std::fopen(options->raw_path.c_str(), "w");
  std::vector<Row> rows;
  bool all_ok = true;
  for (const fs::path& path : ModelPaths(*options)) {
    absl::StatusOr<Model> m = LoadModel(path);
    if (!m.ok()) {
      rows.push_back({path.stem().string(), 0, -1, -1, -1,
                      absl::StrCat("not loaded: ", m.status().message())});
      continue;
    }
    std::unique_ptr<cuda::CudaGraphRunner> gpu;
    // Without a device, say whether the CUDA backend would take the graph.
    absl::Status support = cuda::CheckCudaSupport(*m->graph);
    std::string gpu_note =
        absl::StrCat("cuda: ", e.device.message(), "; ",
                     support.ok() ? "graph supported" : std::string(support.message()));
    if (e.device.ok()) {
      auto runner = cuda::CudaGraphRunner::Create(*m->graph);
      if (runner.ok()) gpu = *std::move(runner);
      if (!runner.ok()) gpu_note = absl::StrCat("cuda: ", runner.status().message());
      // Unsupported ops stay on the CPU; anything else on a present device is a failure.
      if (!runner.ok() && !absl::IsInvalidArgument(runner.status())) all_ok = false;
    }
    for (int64_t batch : options->batches) {
      // With a device, a graph CUDA cannot take is timed on the CPU at the
      // first batch only: device time is scarce and there is nothing to compare.
      if (e.device.ok() && gpu == nullptr && batch != options->batches.front()) continue;
      Row row;
      all_ok = BenchCase(*m, batch, gpu.get(), gpu_note, e, row) && all_ok;
      rows.push_back(std::move(row));
    }
  }
  PrintTable(rows, e.raw);
  if (e.raw != nullptr) std::fclose(e.raw);
  return all_ok ? 0 : 1;
}
