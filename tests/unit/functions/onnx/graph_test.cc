// Graph building (graph.h): shape inference at load and constant folding of
// shape subgraphs.
#include "functions/onnx/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "functions/onnx/op_registry.h"
#include "tests/unit/functions/onnx/shape_chain_model.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Shape;
using onnx::Tensor;
using ::testing::ElementsAre;
using testing::FlattenByShapeChain;
using testing::FloatInit;
using testing::Iota;
using testing::MakeModel;
using testing::MakeNode;
using testing::RunOnce;
using testing::ValueInfo;

TEST(GraphTest, FoldsShapeChainOnStaticDims) {
  absl::StatusOr<Graph> g = onnx::BuildGraph(FlattenByShapeChain(2), onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->folded_nodes, 4);
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].op_type, "Reshape");
  EXPECT_EQ(g->model_order.size(), 5u);
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(*g, Iota({2, 3, 4}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].shape(), (Shape{2, 12}));
  EXPECT_EQ((*y)[0].floats()[23], 23.0f);
}

TEST(GraphTest, SymbolicDimsStayDynamicAndInferenceKnowsTheRest) {
  absl::StatusOr<Graph> g = onnx::BuildGraph(FlattenByShapeChain(-1), onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->folded_nodes, 0);
  EXPECT_EQ(g->nodes.size(), 5u);
  const onnx::ValueShape& x = g->value_shapes[g->inputs[0].value];
  EXPECT_TRUE(x.known);
  EXPECT_THAT(x.shape, ElementsAre(-1, 3, 4));
  // Shape's output is inferred as a 1-D INT64 of 3 elements.
  const onnx::ValueShape& s = g->value_shapes[g->nodes[0].outputs[0]];
  EXPECT_TRUE(s.known);
  EXPECT_EQ(s.type, onnx::ElementType::kInt64);
  EXPECT_THAT(s.shape, ElementsAre(3));
  for (int64_t batch : {1, 5}) {
    absl::StatusOr<std::vector<Tensor>> y = RunOnce(*g, Iota({batch, 3, 4}));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ((*y)[0].shape(), (Shape{batch, 12}));
  }
}

TEST(GraphTest, FoldsConstantNodesAndReportsFoldingErrors) {
  ::onnx::NodeProto c = MakeNode("Constant", "c", {}, {"k"});
  auto* attr = c.add_attribute();
  attr->set_name("value_float");
  attr->set_type(::onnx::AttributeProto::FLOAT);
  attr->set_f(2.0f);
  ::onnx::ModelProto m = MakeModel({c, MakeNode("Mul", "twice", {"x", "k"}, {"y"})},
                                   {ValueInfo("x", {2})}, {ValueInfo("y", {2})});
  absl::StatusOr<Graph> g = onnx::BuildGraph(m, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->folded_nodes, 1);
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(*g, Tensor::Float({2}, {1, 3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT((*y)[0].floats(), ElementsAre(2, 6));

  // A constant subgraph that cannot be computed is a load error naming the node.
  ::onnx::ModelProto bad = MakeModel(
      {MakeNode("Add", "bad_add", {"a", "b"}, {"ab"}), MakeNode("Add", "use", {"x", "ab"}, {"y"})},
      {ValueInfo("x", {2})}, {ValueInfo("y", {2})},
      {FloatInit("a", {2}, {1, 2}), FloatInit("b", {3}, {1, 2, 3})});
  absl::StatusOr<Graph> e = onnx::BuildGraph(bad, onnx::DefaultOpRegistry());
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()),
              ::testing::HasSubstr("node 'bad_add' (#0, Add) (constant folding)"));
}

}  // namespace
}  // namespace stoa::functions
