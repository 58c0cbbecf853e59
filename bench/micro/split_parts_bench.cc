// Per-part times of a split ONNX function (docs/split.md): the whole run and,
// for every cut point, the prefix and the suffix, each the median of --n
// runs on the calling thread, in thread CPU time (steady on a loaded
// machine; a CPU quota stretches wall time by 1/quota on top of it). Run it once where the edge
// would run (e.g. under a cgroup CPU quota) and once where the cloud would: with the cut sizes it
// prints, these are the planner's terms measured directly.
//   stoa-bench-split-parts MODEL.onnx [N]
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "functions/onnx/onnx_runtime.h"

namespace {

using stoa::functions::GraphPart;
using stoa::functions::InvocationInput;
using stoa::functions::LoadedFunction;

double MedianMs(LoadedFunction& fn, const InvocationInput& in, int n) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    timespec a{}, b{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    auto out = fn.Invoke(in);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    ms.push_back((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    if (!out.ok()) {
      std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
      return -1;
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [N]\n", argv[0]);
    return 2;
  }
  const int n = argc > 2 ? std::max(1, std::atoi(argv[2])) : 15;
  auto bytes = stoa::common::ReadFile(argv[1]);
  if (!bytes.ok()) return 1;
  stoa::v1::FunctionSpec spec;
  spec.set_name("m");
  spec.set_runtime("onnx");
  spec.set_split(true);
  stoa::functions::OnnxRuntime runtime;
  auto fn = runtime.Load(spec, *bytes);
  if (!fn.ok()) {
    std::fprintf(stderr, "%s\n", fn.status().ToString().c_str());
    return 1;
  }
  InvocationInput whole;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(0, 1);
  for (const auto& s : (*fn)->spec().inputs()) {
    stoa::v1::Tensor t;
    t.set_name(s.name());
    t.set_datatype(stoa::v1::FP32);
    int64_t count = 1;
    for (int64_t d : s.shape()) t.add_shape(d < 0 ? 1 : d), count *= d < 0 ? 1 : d;
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    t.set_raw(v.data(), v.size() * sizeof(float));
    whole.tensors.push_back(std::move(t));
  }
  std::printf("whole %.3f ms\n", MedianMs(**fn, whole, n));
  std::printf("%-20s %10s %11s %11s\n", "cut", "bytes", "prefix_ms", "suffix_ms");
  for (const auto& cut : (*fn)->spec().split_cuts()) {
    InvocationInput prefix = whole;
    prefix.part = GraphPart::kPrefix;
    prefix.split_cut = cut.tensor();
    auto mid = (*fn)->Invoke(prefix);
    if (!mid.ok()) return 1;
    InvocationInput suffix;
    suffix.part = GraphPart::kSuffix;
    suffix.split_cut = cut.tensor();
    suffix.tensors = mid->tensors;
    std::printf("%-20s %10lld %11.3f %11.3f\n", cut.tensor().c_str(),
                static_cast<long long>(cut.bytes()), MedianMs(**fn, prefix, n),
                MedianMs(**fn, suffix, n));
  }
  return 0;
}
