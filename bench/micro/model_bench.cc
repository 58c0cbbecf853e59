#include "bench/micro/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "functions/function_runtime.h"
#include "functions/onnx/profile.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::bench {
namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string model;
  std::string model_file;
  std::vector<std::string> inputs;
  int threads = 1;
  double min_seconds = 2.0;
  std::string outputs;
};

bool ParseFlags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* name) -> const char* {
      return std::strcmp(argv[i], name) == 0 && i + 1 < argc ? argv[++i] : nullptr;
    };
    if (const char* v = value("--model")) {
      f.model = v;
    } else if (const char* v = value("--model-file")) {
      f.model_file = v;
    } else if (const char* v = value("--input")) {
      f.inputs.push_back(v);
    } else if (const char* v = value("--threads")) {
      f.threads = std::max(1, std::atoi(v));
    } else if (const char* v = value("--min-seconds")) {
      f.min_seconds = std::atof(v);
    } else if (const char* v = value("--outputs")) {
      f.outputs = v;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return false;
    }
  }
  if (f.model.empty()) f.model = fs::path(f.model_file).stem().string();
  return true;
}

bool ReadFile(const std::string& path, std::string& bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::stringstream s;
  s << file.rdbuf();
  bytes = s.str();
  return true;
}

// NAME=TYPE:D0xD1x...:FILE (the name may contain ':', not '=').
bool ParseInput(const std::string& spec, v1::Tensor& t) {
  const size_t last_eq = spec.find('=');
  if (last_eq == std::string::npos) return false;
  std::vector<std::string> parts =
      absl::StrSplit(spec.substr(last_eq + 1), absl::MaxSplits(':', 2));
  if (parts.size() != 3) return false;
  t.set_name(spec.substr(0, last_eq));
  v1::DataType type;
  if (!v1::DataType_Parse(parts[0], &type)) return false;
  t.set_datatype(type);
  if (!parts[1].empty()) {
    for (absl::string_view d : absl::StrSplit(parts[1], 'x')) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(d, &n)) return false;
      t.add_shape(n);
    }
  }
  std::string bytes;
  if (!ReadFile(parts[2], bytes)) return false;
  t.set_raw(std::move(bytes));
  return true;
}

double ProcessCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

bool WriteOutputs(const std::string& dir, const functions::InvocationOutput& out) {
  fs::create_directories(dir);
  std::ofstream index(fs::path(dir) / "outputs.tsv");
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    const v1::Tensor& t = out.tensors[i];
    std::ofstream(fs::path(dir) / (std::to_string(i) + ".bin"), std::ios::binary) << t.raw();
    index << t.name() << '\t' << v1::DataType_Name(t.datatype()) << '\t'
          << absl::StrJoin(t.shape(), "x") << '\n';
  }
  return static_cast<bool>(index);
}

void Unsupported(const std::string& model, std::string reason) {
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  std::printf("UNSUPPORTED engine=stoa model=%s reason=%s\n", model.c_str(), reason.c_str());
}

}  // namespace

bool WantsModelMode(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--model-file") == 0) return true;
  }
  return false;
}

int RunModelMode(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, f)) return 2;
  std::string artifact;
  if (!ReadFile(f.model_file, artifact)) {
    std::fprintf(stderr, "cannot read %s\n", f.model_file.c_str());
    return 2;
  }
  functions::InvocationInput input;
  for (const std::string& spec : f.inputs) {
    if (!ParseInput(spec, input.tensors.emplace_back())) {
      std::fprintf(stderr, "bad --input %s (want NAME=TYPE:D0xD1:FILE)\n", spec.c_str());
      return 2;
    }
  }
  functions::RuntimeOptions options;
  options.intra_op_threads = f.threads;
  functions::RuntimeSet runtimes = functions::DefaultRuntimes(options);
  v1::FunctionSpec spec;
  spec.set_name(f.model);
  spec.set_runtime("onnx");
  auto fn = runtimes.Load(spec, artifact);
  if (!fn.ok()) {
    Unsupported(f.model, std::string(fn.status().message()));
    return 0;
  }
  absl::StatusOr<functions::InvocationOutput> out;
  const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (int i = 0; i < 3 || std::chrono::steady_clock::now() < warm_until; ++i) {
    out = (*fn)->Invoke(input);
    if (!out.ok()) {
      Unsupported(f.model, std::string(out.status().message()));
      return 0;
    }
  }
  functions::onnx::ResetProfile();
  std::vector<double> us, cpu_us;
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::microseconds(static_cast<int64_t>(f.min_seconds * 1e6));
  while (us.size() < 5 || std::chrono::steady_clock::now() < until) {
    const double cpu_start = ProcessCpuMicros();
    const auto start = std::chrono::steady_clock::now();
    out = (*fn)->Invoke(input);
    const auto end = std::chrono::steady_clock::now();
    cpu_us.push_back(ProcessCpuMicros() - cpu_start);
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  if (!f.outputs.empty() && !WriteOutputs(f.outputs, *out)) {
    std::fprintf(stderr, "cannot write outputs to %s\n", f.outputs.c_str());
    return 2;
  }
  std::printf("RESULT engine=stoa model=%s threads=%d p50_us=%.2f cpu_p50_us=%.2f runs=%zu\n",
              f.model.c_str(), f.threads, Median(us), Median(cpu_us), us.size());
  std::fflush(stdout);
  functions::onnx::PrintProfile(stderr);
  functions::onnx::ResetProfile();
  return 0;
}

}  // namespace stoa::bench
