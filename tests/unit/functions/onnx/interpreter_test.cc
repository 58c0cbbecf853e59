// The interpreter (interpreter.h) recycles dead intermediates through the
// scoped BufferPool.
#include "functions/onnx/interpreter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "functions/onnx/op_registry.h"
#include "tests/unit/functions/onnx/shape_chain_model.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Tensor;
using testing::Iota;
using testing::MakeModel;
using testing::MakeNode;
using testing::RunOnce;
using testing::ValueInfo;

TEST(BufferPoolTest, InterpreterRecyclesDeadIntermediates) {
  ::onnx::ModelProto m =
      MakeModel({MakeNode("Relu", "r1", {"x"}, {"a"}), MakeNode("Neg", "n1", {"a"}, {"b"}),
                 MakeNode("Relu", "r2", {"b"}, {"c"}), MakeNode("Neg", "n2", {"c"}, {"y"})},
                {ValueInfo("x", {64})}, {ValueInfo("y", {64})});
  absl::StatusOr<Graph> g = onnx::BuildGraph(m, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  onnx::BufferPool pool;
  {
    onnx::ScopedBufferPool scope(&pool);
    absl::StatusOr<std::vector<Tensor>> y = RunOnce(*g, Iota({64}));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ((*y)[0].floats()[5], -0.0f);
    EXPECT_EQ(onnx::CurrentBufferPool(), &pool);
  }
  EXPECT_EQ(onnx::CurrentBufferPool(), nullptr);
  // Relu r2's output reuses x's or a's buffer; later nodes reuse too.
  EXPECT_GE(pool.reused(), 1);
  EXPECT_LT(pool.allocated(), 4);
  std::vector<float> taken = pool.TakeZeros(8);
  EXPECT_THAT(taken, ::testing::Each(0.0f));
}

// A fired cancel signal stops the run before the next node (CANCELLED,
// saying how far it got); an unfired one changes nothing.
TEST(InterpreterCancelTest, CancelledSignalStopsBetweenNodes) {
  ::onnx::ModelProto m =
      MakeModel({MakeNode("Relu", "r1", {"x"}, {"a"}), MakeNode("Neg", "n1", {"a"}, {"y"})},
                {ValueInfo("x", {8})}, {ValueInfo("y", {8})});
  absl::StatusOr<Graph> g = onnx::BuildGraph(m, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  common::CancelSignal cancel;
  std::vector<Tensor> in;
  in.push_back(Iota({8}));
  absl::StatusOr<std::vector<Tensor>> y =
      onnx::RunGraph(*g, std::move(in), common::RealClock::Get(), 0, &cancel);
  ASSERT_TRUE(y.ok()) << y.status();
  cancel.Cancel();
  in.clear();
  in.push_back(Iota({8}));
  y = onnx::RunGraph(*g, std::move(in), common::RealClock::Get(), 0, &cancel);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(y.status().message(), ::testing::HasSubstr("cancelled by the caller after 0 of"));
}

}  // namespace
}  // namespace stoa::functions
