// On a CUDA device: every conformance test (CPU pass list) that the CUDA
// backend accepts gives ONNX's expected outputs (rtol 1e-3, atol 1e-5 for
// FP32 on the device). Skips without a device (label gpu).
#include <cmath>

#include "functions/cuda/cuda_device.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "gtest/gtest.h"
#include "tests/conformance/cuda_conformance_util.h"

namespace stoa::functions::cuda {
namespace {

TEST(CudaConformanceTest, SupportedPassListTestsPassOnTheDevice) {
  absl::StatusOr<CudaDeviceInfo> device = ProbeCudaDevice();
  if (!device.ok()) GTEST_SKIP() << device.status();
  if (!std::filesystem::exists(testing::kOnnxTestData)) GTEST_SKIP() << "no libonnx-testdata";
  int listed = 0, supported = 0;
  std::vector<testing::CudaConformanceCase> cases =
      testing::LoadCudaConformanceCases(&listed, &supported);
  for (const auto& c : cases) {
    auto ex = CudaGraphRunner::Create(*c.graph);
    ASSERT_TRUE(ex.ok()) << c.name << ": " << ex.status();
    for (const auto& set : c.sets) {
      auto got = (*ex)->Run(set.inputs);
      if (absl::IsUnimplemented(got.status())) continue;  // runs on the CPU
      ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
      ASSERT_EQ(got->size(), set.outputs.size()) << c.name;
      for (size_t o = 0; o < got->size(); ++o) {
        ASSERT_EQ((*got)[o].shape(), set.outputs[o].shape()) << c.name;
        auto a = (*got)[o].floats();
        auto b = set.outputs[o].floats();
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_NEAR(a[i], b[i], 1e-5 + 1e-3 * std::fabs(b[i])) << c.name << " element " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace stoa::functions::cuda
