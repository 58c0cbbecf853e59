// On a CUDA device: every conformance test (CPU pass list) that the CUDA
// backend accepts gives ONNX's expected outputs (rtol 1e-3, atol 1e-5 for
// FP32 on the device). Skips without a device (label gpu). Every failing
// test is listed (not only the first), since a device run is scarce; the
// list also goes to $STOA_CUDA_CONFORMANCE_REPORT when set.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "functions/cuda/cuda_device.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "gtest/gtest.h"
#include "tests/conformance/cuda_conformance_util.h"

namespace stoa::functions::cuda {
namespace {

// Empty when `got` matches `want`, else what differs first.
std::string Compare(const std::vector<onnx::Tensor>& got, const std::vector<onnx::Tensor>& want) {
  if (got.size() != want.size()) {
    return absl::StrCat(got.size(), " outputs, expected ", want.size());
  }
  for (size_t o = 0; o < got.size(); ++o) {
    if (got[o].shape() != want[o].shape()) {
      return absl::StrCat("output ", o, " shape ", ShapeString(got[o].shape()), ", expected ",
                          ShapeString(want[o].shape()));
    }
    auto a = got[o].floats();
    auto b = want[o].floats();
    for (size_t i = 0; i < a.size(); ++i) {
      if (!(std::fabs(a[i] - b[i]) <= 1e-5 + 1e-3 * std::fabs(b[i]))) {
        return absl::StrCat("output ", o, " element ", i, ": ", a[i], ", expected ", b[i]);
      }
    }
  }
  return "";
}

// What went wrong with one test on the device; empty when it passed. Sets
// the CUDA kernels cannot take by shape (UNIMPLEMENTED) count as cpu_sets.
std::string RunOnDevice(const testing::CudaConformanceCase& c, int* device_sets, int* cpu_sets) {
  auto ex = CudaGraphRunner::Create(*c.graph);
  if (!ex.ok()) return absl::StrCat("Create: ", ex.status().ToString());
  for (size_t s = 0; s < c.sets.size(); ++s) {
    auto got = (*ex)->Run(c.sets[s].inputs);
    if (absl::IsUnimplemented(got.status())) {
      ++*cpu_sets;
      continue;
    }
    if (!got.ok()) return absl::StrCat("data set ", s, ": ", got.status().ToString());
    ++*device_sets;
    if (std::string diff = Compare(*got, c.sets[s].outputs); !diff.empty()) {
      return absl::StrCat("data set ", s, ": ", diff);
    }
  }
  return "";
}

TEST(CudaConformanceTest, SupportedPassListTestsPassOnTheDevice) {
  absl::StatusOr<CudaDeviceInfo> device = ProbeCudaDevice();
  if (!device.ok()) GTEST_SKIP() << device.status();
  if (!std::filesystem::exists(testing::OnnxTestDataRoot())) {
    GTEST_SKIP() << "no ONNX test data at " << testing::OnnxTestDataRoot();
  }
  int listed = 0, supported = 0, device_sets = 0, cpu_sets = 0;
  std::vector<testing::CudaConformanceCase> cases =
      testing::LoadCudaConformanceCases(&listed, &supported);
  ASSERT_GT(listed, 0) << "no pass list (STOA_SOURCE_DIR)";
  ASSERT_GT(supported, 0) << "no pass-listed test found under " << testing::OnnxTestDataRoot();
  std::vector<std::string> failures;
  for (const auto& c : cases) {
    if (std::string why = RunOnDevice(c, &device_sets, &cpu_sets); !why.empty()) {
      failures.push_back(absl::StrCat(c.name, "\t", why));
    }
  }
  std::printf(
      "%s: %d of %d pass-listed tests on CUDA, %zu failed; %d data sets on the device, %d "
      "left to the CPU by shape\n",
      device->name.c_str(), supported, listed, failures.size(), device_sets, cpu_sets);
  if (const char* report = std::getenv("STOA_CUDA_CONFORMANCE_REPORT")) {
    std::ofstream out(report);
    for (const std::string& f : failures) out << f << "\n";
  }
  for (const std::string& f : failures) ADD_FAILURE() << f;
  EXPECT_GT(device_sets, 0);
}

}  // namespace
}  // namespace stoa::functions::cuda
