// Graph handling: shape inference at load, constant folding of shape
// subgraphs, per-shape plans for symbolic inputs, buffer reuse and the
// intra-op thread budget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/onnx_runtime.h"
#include "functions/onnx/plan_cache.h"
#include "tests/unit/functions/onnx_test_util.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Shape;
using onnx::Tensor;
using ::testing::ElementsAre;
using testing::FloatInit;
using testing::Int64Init;
using testing::MakeModel;
using testing::MakeNode;
using testing::ValueInfo;

// y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): [N,3,4] → [N,12].
::onnx::ModelProto FlattenByShapeChain(int64_t batch) {
  ::onnx::NodeProto gather = MakeNode("Gather", "gather", {"shape", "zero"}, {"n"});
  ::onnx::NodeProto concat = MakeNode("Concat", "concat", {"n1", "minus_one"}, {"target"});
  testing::SetIntAttr(concat, "axis", 0);
  ::onnx::TensorProto zero = Int64Init("zero", {0});
  zero.clear_dims();  // a scalar index: Gather drops the axis
  return MakeModel({MakeNode("Shape", "shape_of_x", {"x"}, {"shape"}), gather,
                    MakeNode("Unsqueeze", "unsqueeze", {"n", "axes"}, {"n1"}), concat,
                    MakeNode("Reshape", "reshape", {"x", "target"}, {"y"})},
                   {ValueInfo("x", {batch, 3, 4})}, {ValueInfo("y", {batch, 12})},
                   {zero, Int64Init("axes", {0}), Int64Init("minus_one", {-1})});
}

absl::StatusOr<std::vector<Tensor>> RunOnce(const Graph& g, Tensor x) {
  std::vector<Tensor> in;
  in.push_back(std::move(x));
  return onnx::RunGraph(g, std::move(in), common::RealClock::Get(), 0);
}

Tensor Iota(Shape shape) {
  Tensor t = Tensor::Zeros(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.mutable_floats()[i] = static_cast<float>(i);
  return t;
}

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
  absl::StatusOr<Graph> g =
      onnx::BuildGraph(FlattenByShapeChain(-1), onnx::DefaultOpRegistry());
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

TEST(PlanCacheTest, SpecialisesPerShapeAndStaysBounded) {
  const ::onnx::ModelProto model = FlattenByShapeChain(-1);
  absl::StatusOr<Graph> g = onnx::BuildGraph(model, onnx::DefaultOpRegistry());
  ASSERT_TRUE(g.ok()) << g.status();
  auto base = std::make_shared<const Graph>(*std::move(g));
  ASSERT_TRUE(onnx::PlanCache::Worthwhile(*base));
  onnx::PlanCache cache(model, base, onnx::DefaultOpRegistry(), /*capacity=*/2);
  std::shared_ptr<const Graph> p2 = cache.ForShapes({{2, 3, 4}});
  EXPECT_EQ(p2->nodes.size(), 1u);  // the whole shape chain folded for batch 2
  EXPECT_EQ(cache.ForShapes({{2, 3, 4}}), p2);
  EXPECT_EQ(cache.builds(), 1);
  cache.ForShapes({{3, 3, 4}});
  cache.ForShapes({{4, 3, 4}});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.ForShapes({{2, 3, 4}}), p2);  // evicted, rebuilt
  EXPECT_EQ(cache.builds(), 4);
  absl::StatusOr<std::vector<Tensor>> y = RunOnce(*cache.ForShapes({{4, 3, 4}}), Iota({4, 3, 4}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].shape(), (Shape{4, 12}));

  absl::StatusOr<Graph> fixed =
      onnx::BuildGraph(FlattenByShapeChain(2), onnx::DefaultOpRegistry());
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(onnx::PlanCache::Worthwhile(*fixed));
}

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

TEST(OnnxRuntimeThreadsTest, MultiThreadedConvMatchesSingleThread) {
  std::vector<float> w(2 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) - 3.0f;
  ::onnx::ModelProto m = MakeModel(
      {MakeNode("Conv", "conv", {"x", "W"}, {"h"}), MakeNode("Relu", "relu", {"h"}, {"y"})},
      {ValueInfo("x", {-1, 3, 16, 16})}, {ValueInfo("y", {-1, 2, 14, 14})},
      {FloatInit("W", {2, 3, 3, 3}, w)});
  std::vector<float> x(2 * 3 * 16 * 16);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 11) / 5.0f - 1.0f;
  std::vector<std::vector<float>> results;
  for (int threads : {1, 3}) {
    OnnxRuntime runtime(OnnxRuntime::Options{.intra_op_threads = threads});
    v1::FunctionSpec spec;
    spec.set_name("conv");
    absl::StatusOr<LoadedFunctionPtr> f = runtime.Load(spec, m.SerializeAsString());
    ASSERT_TRUE(f.ok()) << f.status();
    InvocationInput in;
    in.tensors.push_back(testing::FloatTensor("x", {2, 3, 16, 16}, x));
    for (int round = 0; round < 2; ++round) {  // the second run reuses pooled buffers
      absl::StatusOr<InvocationOutput> out = (*f)->Invoke(in);
      ASSERT_TRUE(out.ok()) << out.status();
      results.push_back(testing::Floats(out->tensors[0]));
    }
  }
  ASSERT_EQ(results[0].size(), 2u * 2 * 14 * 14);
  for (size_t r = 1; r < results.size(); ++r) EXPECT_EQ(results[r], results[0]) << r;
}

}  // namespace
}  // namespace stoa::functions
