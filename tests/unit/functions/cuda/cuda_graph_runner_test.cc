// The CUDA backend on a real device: the example models give the CPU
// engine's answers. Skips cleanly without a device (ctest label gpu).
#include "functions/cuda/cuda_graph_runner.h"

#include <cmath>

#include "common/clock.h"
#include "functions/cuda/cuda_device.h"
#include "functions/onnx/interpreter.h"
#include "gtest/gtest.h"
#include "tests/unit/functions/cuda/cuda_test_models.h"

namespace stoa::functions::cuda {
namespace {

using onnx::Shape;
using onnx::Tensor;

TEST(CudaGraphRunnerTest, WithoutADeviceCreateIsUnavailable) {
  if (ProbeCudaDevice().ok()) GTEST_SKIP() << "a CUDA device is present";
  absl::StatusOr<onnx::Graph> graph = testing::LoadExampleGraph("digits/digits.onnx");
  if (!graph.ok()) GTEST_SKIP() << graph.status();
  auto ex = CudaGraphRunner::Create(*graph);
  EXPECT_EQ(ex.status().code(), absl::StatusCode::kUnavailable) << ex.status();
}

TEST(CudaGraphRunnerTest, ExampleModelsMatchTheCpuEngine) {
  absl::StatusOr<CudaDeviceInfo> device = ProbeCudaDevice();
  if (!device.ok()) GTEST_SKIP() << device.status();
  for (const auto& [file, row] : {std::pair<std::string, Shape>{"digits/digits.onnx", {64}},
                                  {"lenet/lenet.onnx", {1, 8, 8}}}) {
    absl::StatusOr<onnx::Graph> graph = testing::LoadExampleGraph(file);
    ASSERT_TRUE(graph.ok()) << graph.status();
    auto ex = CudaGraphRunner::Create(*graph);
    ASSERT_TRUE(ex.ok()) << ex.status();
    for (int64_t batch : {1, 7, 32}) {
      Shape shape{batch};
      shape.insert(shape.end(), row.begin(), row.end());
      Tensor x = Tensor::Zeros(shape);
      auto values = x.mutable_floats();
      for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7) % 17);
      auto gpu = (*ex)->Run({x});
      ASSERT_TRUE(gpu.ok()) << gpu.status();
      auto cpu = onnx::RunGraph(*graph, {x}, common::RealClock::Get(), 0);
      ASSERT_TRUE(cpu.ok()) << cpu.status();
      ASSERT_EQ(gpu->size(), cpu->size());
      for (size_t o = 0; o < cpu->size(); ++o) {
        ASSERT_EQ((*gpu)[o].shape(), (*cpu)[o].shape());
        auto a = (*gpu)[o].floats();
        auto b = (*cpu)[o].floats();
        for (size_t i = 0; i < a.size(); ++i) {
          EXPECT_NEAR(a[i], b[i], 1e-4 + 1e-3 * std::fabs(b[i])) << file << " batch " << batch;
        }
      }
    }
  }
}

}  // namespace
}  // namespace stoa::functions::cuda
