// On the CPU: for every conformance test (CPU pass list) that the CUDA
// backend accepts, its host-side shape inference gives the shapes of ONNX's
// expected outputs. Prints how many pass-listed tests the backend covers.
#include <cstdio>

#include "gtest/gtest.h"
#include "tests/conformance/cuda_conformance_util.h"

namespace stoa::functions::cuda {
namespace {

TEST(CudaConformanceShapesTest, SupportedTestsInferOnnxsOutputShapes) {
  if (!std::filesystem::exists(testing::OnnxTestDataRoot())) GTEST_SKIP() << "no libonnx-testdata";
  int listed = 0, supported = 0;
  std::vector<testing::CudaConformanceCase> cases =
      testing::LoadCudaConformanceCases(&listed, &supported);
  if (listed == 0) GTEST_SKIP() << "no pass list";
  int checked = 0, cpu_only = 0;
  for (const auto& c : cases) {
    for (const auto& set : c.sets) {
      std::vector<onnx::Shape> in;
      for (const auto& t : set.inputs) in.push_back(t.shape());
      auto shapes = InferShapes(*c.graph, in);
      if (absl::IsUnimplemented(shapes.status())) {
        ++cpu_only;  // such a request runs on the CPU
        continue;
      }
      ASSERT_TRUE(shapes.ok()) << c.name << ": " << shapes.status();
      ++checked;
      ASSERT_EQ(set.outputs.size(), c.graph->outputs.size()) << c.name;
      for (size_t o = 0; o < set.outputs.size(); ++o) {
        EXPECT_EQ((*shapes)[c.graph->outputs[o].value], set.outputs[o].shape()) << c.name;
      }
    }
  }
  std::printf(
      "CUDA backend accepts %d of %d pass-listed conformance tests; %d data sets checked, %d "
      "left to the CPU by shape\n",
      supported, listed, checked, cpu_only);
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace stoa::functions::cuda
