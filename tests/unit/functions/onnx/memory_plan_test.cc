// The planned memory of a graph (memory_plan.h) and BuildGraph refusing a
// model whose planned peak, or whose constant folding, passes its budget.
#include "functions/onnx/memory_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "functions/onnx/op_registry.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using onnx::ModelLimits;
using ::testing::HasSubstr;
using testing::MakeModel;
using testing::MakeNode;
using testing::ValueInfo;

ModelLimits MemoryLimit(int64_t bytes) {
  ModelLimits limits;
  limits.memory_bytes = bytes;
  limits.memory_source = "limits.memory_mb of the spec";
  return limits;
}

TEST(MemoryPlanTest, PeakIsConstantsPlusTheLargestLiveSet) {
  // x[1000] → Relu a → Relu b → Add(a, b) → y: x + a at the first Relu
  // (8000), a + b at the second, a + b + y at the Add (12000).
  ::onnx::ModelProto m =
      MakeModel({MakeNode("Relu", "r1", {"x"}, {"a"}), MakeNode("Relu", "r2", {"a"}, {"b"}),
                 MakeNode("Add", "add", {"a", "b"}, {"y"})},
                {ValueInfo("x", {1000})}, {ValueInfo("y", {1000})},
                {testing::FloatInit("unused", {2}, {1, 2})});
  absl::StatusOr<onnx::Graph> g = onnx::BuildGraph(m, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  onnx::MemoryPlan plan = onnx::PlanMemory(*g);
  EXPECT_EQ(plan.constant_bytes, 8);
  EXPECT_EQ(plan.intermediate_bytes, 12000);
  EXPECT_EQ(g->constant_bytes, 8);
}

TEST(MemoryPlanTest, SymbolicDimsCountAsOne) {
  absl::StatusOr<onnx::Graph> g =
      onnx::BuildGraph(MakeModel({MakeNode("Relu", "r", {"x"}, {"y"})}, {ValueInfo("x", {-1, 10})},
                                 {ValueInfo("y", {-1, 10})}),
                       onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(onnx::PlanMemory(*g).intermediate_bytes, 80);
}

TEST(MemoryPlanTest, AModelOverItsBudgetIsRefusedNamingTheLimit) {
  const ::onnx::ModelProto m = testing::BigInitializerModel(1000);  // 4000 + 2 × 4000
  EXPECT_TRUE(onnx::BuildGraph(m, onnx::DefaultOpRegistry(), MemoryLimit(12000)).ok());
  absl::StatusOr<onnx::Graph> g =
      onnx::BuildGraph(m, onnx::DefaultOpRegistry(), MemoryLimit(11999));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.status().message(),
            "model needs 12000 bytes at its planned peak (constants 4000, intermediates 8000); "
            "the limit is 11999 bytes (ONNX memory limit: limits.memory_mb of the spec)");
}

TEST(MemoryPlanTest, ConstantFoldingNeverMaterializesATensorPastTheBudget) {
  // 2^40 floats (4 TiB) folded at load: refused before anything is allocated.
  absl::StatusOr<onnx::Graph> g = onnx::BuildGraph(testing::FoldingBombModel(int64_t{1} << 40),
                                                   onnx::DefaultOpRegistry(), MemoryLimit(1 << 20));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(),
              HasSubstr("node 'fill' (#0, ConstantOfShape) (constant folding): output of shape "
                        "[1099511627776] (FP32) would take 4398046511104 bytes; 1048568 of the "
                        "1048576-byte budget are left (ONNX memory limit: limits.memory_mb of the "
                        "spec)"));
  // A small one folds: the zeros are charged, so the budget must hold them.
  EXPECT_TRUE(onnx::BuildGraph(testing::FoldingBombModel(1000), onnx::DefaultOpRegistry(),
                               MemoryLimit(1 << 20))
                  .ok());
}

}  // namespace
}  // namespace stoa::functions
