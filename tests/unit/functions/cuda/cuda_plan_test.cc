// The CUDA backend's host-side planning, on the CPU: support checks, fusion,
// shape inference (checked against the CPU engine) and memory planning.
#include "functions/cuda/cuda_plan.h"

#include <random>

#include "common/clock.h"
#include "functions/onnx/interpreter.h"
#include "gtest/gtest.h"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/unit/functions/cuda/cuda_test_models.h"

namespace stoa::functions::cuda {
namespace {

using onnx::Shape;
using ::stoa::functions::testing::LoadExampleGraph;

int ValueId(const onnx::Graph& g, const std::string& name) {
  for (size_t v = 0; v < g.value_names.size(); ++v) {
    if (g.value_names[v] == name) return static_cast<int>(v);
  }
  return -1;
}

TEST(CudaPlanTest, ExampleModelsAreSupportedAndShapesMatchTheCpuEngine) {
  for (const auto& [file, row] : {std::pair<std::string, Shape>{"digits/digits.onnx", {64}},
                                  {"lenet/lenet.onnx", {1, 8, 8}}}) {
    absl::StatusOr<onnx::Graph> graph = LoadExampleGraph(file);
    if (absl::IsNotFound(graph.status())) GTEST_SKIP() << graph.status();
    ASSERT_TRUE(graph.ok()) << file << ": " << graph.status();
    EXPECT_TRUE(CheckCudaSupport(*graph).ok()) << CheckCudaSupport(*graph);
    Shape in{5};
    in.insert(in.end(), row.begin(), row.end());
    absl::StatusOr<std::vector<Shape>> shapes = InferShapes(*graph, std::vector<Shape>{in});
    ASSERT_TRUE(shapes.ok()) << shapes.status();
    std::vector<onnx::Tensor> inputs;
    inputs.push_back(onnx::Tensor::Zeros(in));
    auto cpu = onnx::RunGraph(*graph, std::move(inputs), common::RealClock::Get(), 0);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    for (size_t o = 0; o < graph->outputs.size(); ++o) {
      EXPECT_EQ((*shapes)[graph->outputs[o].value], (*cpu)[o].shape()) << file;
    }
  }
}

TEST(CudaPlanTest, LenetIntermediateShapesAndFusion) {
  absl::StatusOr<onnx::Graph> graph = LoadExampleGraph("lenet/lenet.onnx");
  if (absl::IsNotFound(graph.status())) GTEST_SKIP() << graph.status();
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto shapes = InferShapes(*graph, std::vector<Shape>{{3, 1, 8, 8}});
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_EQ((*shapes)[ValueId(*graph, "c1")], (Shape{3, 8, 8, 8}));
  EXPECT_EQ((*shapes)[ValueId(*graph, "p1")], (Shape{3, 8, 4, 4}));
  EXPECT_EQ((*shapes)[ValueId(*graph, "p2")], (Shape{3, 16, 2, 2}));
  EXPECT_EQ((*shapes)[ValueId(*graph, "flat")], (Shape{3, 64}));
  // Every Relu follows a Conv or Gemm used only by it: all three fuse.
  std::vector<int> fused = PlanFusion(*graph);
  int relus = 0;
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    if (graph->nodes[i].op_type != "Relu") {
      EXPECT_EQ(fused[i], -1);
      continue;
    }
    ++relus;
    ASSERT_GE(fused[i], 0);
    const std::string& producer = graph->nodes[fused[i]].op_type;
    EXPECT_TRUE(producer == "Conv" || producer == "Gemm") << producer;
  }
  EXPECT_EQ(relus, 3);
  // Wrong input shape: refused, naming the node.
  auto bad = InferShapes(*graph, std::vector<Shape>{{3, 2, 8, 8}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("conv1"), std::string::npos) << bad.status();
}

TEST(CudaPlanTest, UnsupportedOpIsNamed) {
  using namespace ::stoa::functions::testing;  // NOLINT
  auto node = MakeNode("LeakyRelu", "leaky", {"x"}, {"y"});
  auto model = MakeModel({node}, {ValueInfo("x", {-1, 4})}, {ValueInfo("y", {-1, 4})});
  auto graph = onnx::BuildGraph(model, onnx::DefaultOpRegistry());
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::Status st = CheckCudaSupport(*graph);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("leaky"), std::string::npos) << st;
  EXPECT_NE(st.message().find("CUDA"), std::string::npos) << st;
}

TEST(CudaPlanTest, ReluAfterAValueUsedTwiceIsNotFused) {
  using namespace ::stoa::functions::testing;  // NOLINT
  auto add = MakeNode("Add", "add", {"x", "x"}, {"s"});
  auto relu = MakeNode("Relu", "relu", {"s"}, {"r"});
  auto mul = MakeNode("Mul", "mul", {"s", "r"}, {"y"});
  auto model = MakeModel({add, relu, mul}, {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  auto graph = onnx::BuildGraph(model, onnx::DefaultOpRegistry());
  ASSERT_TRUE(graph.ok()) << graph.status();
  for (int f : PlanFusion(*graph)) EXPECT_EQ(f, -1);
}

TEST(PlanMemoryTest, ChainReusesBuffers) {
  // a -> b -> c -> d, each 1000 bytes, each read only by the next node.
  std::vector<BufferRequest> chain = {{1000, -1, 0}, {1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}};
  MemoryPlan plan = PlanMemory(chain);
  EXPECT_EQ(plan.arena_bytes, 2 * 1024);  // two live at a time, 256-aligned
  EXPECT_NE(plan.offsets[0], plan.offsets[1]);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
}

TEST(PlanMemoryTest, RandomLifetimesNeverOverlapInMemory) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<BufferRequest> reqs;
    int64_t total = 0;
    for (int i = 0; i < 30; ++i) {
      const int first = static_cast<int>(rng() % 20) - 1;
      const int last = first + 1 + static_cast<int>(rng() % 6);
      const int64_t bytes = 1 + static_cast<int64_t>(rng() % 5000);
      reqs.push_back({bytes, first, last});
      total += (bytes + 255) / 256 * 256;
    }
    MemoryPlan plan = PlanMemory(reqs);
    EXPECT_LE(plan.arena_bytes, total);
    for (size_t a = 0; a < reqs.size(); ++a) {
      EXPECT_EQ(plan.offsets[a] % 256, 0);
      EXPECT_LE(plan.offsets[a] + reqs[a].bytes, plan.arena_bytes);
      for (size_t b = a + 1; b < reqs.size(); ++b) {
        const bool live_together = !(reqs[a].last < reqs[b].first || reqs[b].last < reqs[a].first);
        const bool overlap = plan.offsets[a] < plan.offsets[b] + reqs[b].bytes &&
                             plan.offsets[b] < plan.offsets[a] + reqs[a].bytes;
        EXPECT_FALSE(live_together && overlap) << "round " << round << ": " << a << " and " << b;
      }
    }
  }
}

}  // namespace
}  // namespace stoa::functions::cuda
