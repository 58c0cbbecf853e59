// The memory budget (memory_budget.h): what CheckAllocation refuses, and a
// run of the interpreter charging its tensors to the budget in scope.
#include "functions/onnx/memory_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/op_registry.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using onnx::CheckAllocation;
using onnx::ElementType;
using onnx::MemoryBudget;
using onnx::ScopedMemoryBudget;
using onnx::Tensor;
using ::testing::HasSubstr;

TEST(MemoryBudgetTest, WithoutABudgetOnlyTheShapeIsChecked) {
  EXPECT_TRUE(CheckAllocation(ElementType::kFloat32, std::vector<int64_t>{1 << 30}).ok());
  EXPECT_EQ(CheckAllocation(ElementType::kFloat32, std::vector<int64_t>{-1}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryBudgetTest, RefusesWhatDoesNotFitAndNamesTheLimit) {
  MemoryBudget budget(1000, "--onnx-max-memory-mb", /*used_bytes=*/200);
  ScopedMemoryBudget scoped(&budget);
  EXPECT_TRUE(CheckAllocation(ElementType::kFloat32, std::vector<int64_t>{200}).ok());
  absl::Status s = CheckAllocation(ElementType::kInt64, std::vector<int64_t>{2, 51});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("output of shape [2,51] (INT64) would take 816 bytes; 800 of "
                                     "the 1000-byte budget are left (ONNX memory limit: "
                                     "--onnx-max-memory-mb)"));
  budget.Charge(800);
  EXPECT_TRUE(budget.CheckUsed("x").ok());
  budget.Charge(1);
  EXPECT_THAT(budget.CheckUsed("node 'n'").message(),
              HasSubstr("node 'n' took the function to 1001 bytes; the limit is 1000 bytes"));
}

TEST(MemoryBudgetTest, ScopesNest) {
  MemoryBudget outer(10, "a"), inner(20, "b");
  {
    ScopedMemoryBudget s1(&outer);
    {
      ScopedMemoryBudget s2(&inner);
      EXPECT_EQ(onnx::CurrentMemoryBudget(), &inner);
    }
    EXPECT_EQ(onnx::CurrentMemoryBudget(), &outer);
  }
  EXPECT_EQ(onnx::CurrentMemoryBudget(), nullptr);
}

TEST(MemoryBudgetTest, TensorBytesSaturatesOnOverflow) {
  EXPECT_EQ(onnx::TensorBytes(ElementType::kFloat64, std::vector<int64_t>{3, 2}), 48);
  EXPECT_EQ(onnx::TensorBytes(ElementType::kFloat32, std::vector<int64_t>{int64_t{1} << 62}),
            INT64_MAX);
}

class BudgetedRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<onnx::Graph> g =
        onnx::BuildGraph(testing::CastConstantOfShapeModel(), onnx::DefaultOpRegistry());
    ASSERT_TRUE(g.ok()) << g.status();
    graph_ = *std::move(g);
  }
  // Runs the model for `n` within a fresh budget of `limit` bytes; *used
  // is what the budget holds afterwards.
  absl::StatusOr<std::vector<Tensor>> Run(float n, int64_t limit, int64_t* used = nullptr) {
    MemoryBudget budget(limit, "limits.memory_mb of the spec");
    ScopedMemoryBudget scoped(&budget);
    std::vector<Tensor> inputs;
    inputs.push_back(Tensor::Float({1}, {n}));
    absl::StatusOr<std::vector<Tensor>> y =
        onnx::RunGraph(graph_, std::move(inputs), common::RealClock::Get(), 0);
    if (used != nullptr) *used = budget.used();
    return y;
  }
  onnx::Graph graph_;
};

TEST_F(BudgetedRunTest, AnOutputTheRequestMakesTooLargeIsRefusedBeforeItIsAllocated) {
  int64_t used = 0;
  // 2^40 floats: allocating them would fail or take the machine down.
  absl::StatusOr<std::vector<Tensor>> y = Run(1099511627776.0f, 1 << 20, &used);
  ASSERT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(),
              HasSubstr("node 'fill' (#1, ConstantOfShape): output of shape [1099511627776] "
                        "(FP32) would take 4398046511104 bytes; 1048568 of the 1048576-byte "
                        "budget are left (ONNX memory limit: limits.memory_mb of the spec)"));
  EXPECT_EQ(used, 0) << "what the failed run held is credited back";
}

TEST_F(BudgetedRunTest, TensorsAreChargedWhileAliveAndCreditedWhenReleased) {
  int64_t used = 0;
  absl::StatusOr<std::vector<Tensor>> y = Run(1000.0f, 1 << 20, &used);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].floats()[0], 0.0f);
  EXPECT_EQ(used, 0) << "outputs leave the budget when handed to the caller";
  // The zeros fit exactly in what the shape leaves; one more float does not.
  EXPECT_TRUE(Run(262142.0f, 1 << 20).ok());
  EXPECT_EQ(Run(262143.0f, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stoa::functions
