// CudaOnnxRuntime: the CPU engine's validation, and the CPU's answers when
// the GPU cannot take the model (always the case without a device).
#include "functions/cuda/cuda_onnx_runtime.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "functions/onnx/onnx_runtime.h"
#include "gtest/gtest.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions::cuda {
namespace {

std::string ReadExample(const std::string& relative) {
  const char* source = std::getenv("STOA_SOURCE_DIR");
  std::ifstream file(std::filesystem::path(source ? source : ".") / "functions/examples" / relative,
                     std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

TEST(CudaOnnxRuntimeTest, AnswersLikeTheCpuEngine) {
  RuntimeSet runtimes = CudaRuntimes();
  ASSERT_NE(runtimes.Find("onnx"), nullptr);
  ASSERT_NE(runtimes.Find("wasm"), nullptr);
  OnnxRuntime cpu;
  for (const auto& [file, shape] :
       {std::pair<std::string, std::vector<int64_t>>{"digits/digits.onnx", {3, 64}},
        {"lenet/lenet.onnx", {3, 1, 8, 8}}}) {
    const std::string model = ReadExample(file);
    if (model.empty()) GTEST_SKIP() << "no " << file;
    v1::FunctionSpec spec;
    spec.set_name("m");
    spec.set_runtime("onnx");
    auto fn = runtimes.Load(spec, model);
    ASSERT_TRUE(fn.ok()) << fn.status();
    auto reference = cpu.Load(spec, model);
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ((*fn)->spec().SerializeAsString(), (*reference)->spec().SerializeAsString());
    std::optional<PlacementInfo> placement = GetPlacement(**fn);
    ASSERT_TRUE(placement.has_value());
    EXPECT_FALSE(placement->reason.empty());

    std::vector<float> values(static_cast<size_t>(shape[0] * 64));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 5) % 17);
    InvocationInput input;
    input.tensors.push_back(testing::FloatTensor("pixels", shape, values));
    auto got = (*fn)->Invoke(input);
    auto want = (*reference)->Invoke(input);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    std::vector<float> a = testing::Floats(got->tensors[0]);
    std::vector<float> b = testing::Floats(want->tensors[0]);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      if (placement->on_gpu) {
        EXPECT_NEAR(a[i], b[i], 1e-4) << file;
      } else {
        EXPECT_EQ(a[i], b[i]) << file;
      }
    }
    // Bad input: the CPU engine's message.
    InvocationInput bad;
    bad.tensors.push_back(testing::FloatTensor("pixels", {1, 3}, {1, 2, 3}));
    auto refused = (*fn)->Invoke(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("pixels"), std::string::npos) << refused.status();
  }
}

TEST(CudaOnnxRuntimeTest, RefusesWhatTheCpuEngineRefuses) {
  CudaOnnxRuntime runtime(std::make_unique<OnnxRuntime>());
  v1::FunctionSpec spec;
  spec.set_name("m");
  spec.set_runtime("onnx");
  auto fn = runtime.Load(spec, "not a model");
  EXPECT_EQ(fn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fn.status().message().find("not a valid ONNX model"), std::string::npos) << fn.status();
}

}  // namespace
}  // namespace stoa::functions::cuda
