// If and Loop (kernels_control.cc) with their subgraphs built by BuildGraph
// (graph.h, subgraph.h): outer-scope values, loop-carried values and scan
// outputs computed by hand, and the hostile models: unbounded loops stopped
// by the deadline, cancellation or the memory budget, nesting and node
// counts past the limits, branches that disagree.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/memory_plan.h"
#include "functions/onnx/op_registry.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::Tensor;
using ::testing::ElementsAre;
using testing::FloatInit;
using ::testing::HasSubstr;
using testing::Int64Init;
using testing::MakeModel;
using testing::MakeNode;
using testing::ValueInfo;

constexpr int32_t kBool = ::onnx::TensorProto::BOOL;
constexpr int32_t kInt64 = ::onnx::TensorProto::INT64;

::onnx::GraphProto Subgraph(std::vector<::onnx::NodeProto> nodes,
                            std::vector<::onnx::ValueInfoProto> inputs,
                            std::vector<::onnx::ValueInfoProto> outputs,
                            std::vector<::onnx::TensorProto> initializers = {}) {
  ::onnx::ModelProto m =
      MakeModel(std::move(nodes), std::move(inputs), std::move(outputs), std::move(initializers));
  return m.graph();
}

void SetGraph(::onnx::NodeProto& node, const std::string& name, ::onnx::GraphProto g) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::GRAPH);
  *a->mutable_g() = std::move(g);
}

absl::StatusOr<Graph> Build(const ::onnx::ModelProto& m, onnx::ModelLimits limits = {}) {
  return onnx::BuildGraph(m, onnx::DefaultOpRegistry(), limits);
}

absl::StatusOr<std::vector<Tensor>> RunModel(const Graph& g, std::vector<Tensor> in,
                                             int64_t deadline_us = 0,
                                             const common::CancelSignal* cancel = nullptr) {
  return onnx::RunGraph(g, std::move(in), common::RealClock::Get(), deadline_us, cancel);
}

std::vector<float> F(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }

// y = cond ? x + k : -x, with k an initializer of the main graph that the
// then-branch reads from the outer scope.
::onnx::ModelProto IfModel() {
  ::onnx::NodeProto node = MakeNode("If", "choose", {"cond"}, {"y"});
  SetGraph(node, "then_branch",
           Subgraph({MakeNode("Add", "add", {"x", "k"}, {"t"})}, {}, {ValueInfo("t", {2})}));
  SetGraph(node, "else_branch",
           Subgraph({MakeNode("Neg", "neg", {"x"}, {"e"})}, {}, {ValueInfo("e", {2})}));
  return MakeModel({node}, {ValueInfo("cond", {}, kBool), ValueInfo("x", {2})},
                   {ValueInfo("y", {2})}, {FloatInit("k", {2}, {10, 20})});
}

TEST(IfTest, RunsTheChosenBranchWithOuterScopeValues) {
  absl::StatusOr<Graph> g = Build(IfModel());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->nodes.size(), 1u);
  // The outer-scope values (x, k) became inputs of the If node.
  EXPECT_EQ(g->nodes[0].declared_inputs, 1);
  EXPECT_EQ(g->nodes[0].inputs.size(), 3u);
  for (bool cond : {true, false}) {
    std::vector<Tensor> in;
    in.push_back(Tensor::Bool({}, {cond}));
    in.push_back(Tensor::Float({2}, {1, 2}));
    absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, std::move(in));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(F((*y)[0]), cond ? std::vector<float>({11, 22}) : std::vector<float>({-1, -2}));
  }
}

TEST(IfTest, BranchesWithDifferentOutputCountsAreRefusedAtLoad) {
  ::onnx::ModelProto m = IfModel();
  ::onnx::GraphProto* then_branch =
      m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g();
  *then_branch->add_output() = ValueInfo("x", {2});
  absl::StatusOr<Graph> g = Build(m);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(),
              HasSubstr("node 'choose' (#0, If): then_branch has 2 outputs and else_branch 1"));
}

TEST(IfTest, ErrorsInsideABranchNameTheBranch) {
  ::onnx::ModelProto m = IfModel();
  m.mutable_graph()
      ->mutable_node(0)
      ->mutable_attribute(1)
      ->mutable_g()
      ->mutable_node(0)
      ->set_op_type("StringNormalizer");
  absl::StatusOr<Graph> g = Build(m);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(),
              HasSubstr("node 'choose' (#0, If): else_branch: node 'neg' (#0) uses unsupported "
                        "op 'StringNormalizer'"));
  // A branch reading a value nobody defines is refused at load too.
  ::onnx::ModelProto dangling = IfModel();
  dangling.mutable_graph()
      ->mutable_node(0)
      ->mutable_attribute(1)
      ->mutable_g()
      ->mutable_node(0)
      ->set_input(0, "nowhere");
  g = Build(dangling);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("input 'nowhere' is not a graph input"));
}

TEST(IfTest, ANonBooleanConditionIsAClearError) {
  absl::StatusOr<Graph> g = Build(IfModel());
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<Tensor> in;
  in.push_back(Tensor::Bool({2}, {1, 0}));
  in.push_back(Tensor::Float({2}, {1, 2}));
  absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, std::move(in));
  ASSERT_FALSE(y.ok());
  EXPECT_THAT(y.status().message(), HasSubstr("must be a BOOL tensor of one element"));
}

// Loop(M, "", s0): s += x each iteration (x from the outer scope); scan
// outputs: s after each iteration and the iteration number as FP32.
::onnx::ModelProto SumLoopModel(bool empty_body = false) {
  ::onnx::NodeProto cast = MakeNode("Cast", "cast", {"i"}, {"i_f"});
  testing::SetIntAttr(cast, "to", ::onnx::TensorProto::FLOAT);
  ::onnx::GraphProto body =
      empty_body
          ? Subgraph({},
                     {ValueInfo("i", {}, kInt64), ValueInfo("c", {}, kBool), ValueInfo("s", {1})},
                     {ValueInfo("c", {}, kBool), ValueInfo("s", {1})})
          : Subgraph({MakeNode("Identity", "keep", {"c"}, {"c_out"}),
                      MakeNode("Add", "add", {"s", "x"}, {"s_out"}),
                      MakeNode("Identity", "copy", {"s_out"}, {"scan_s"}), cast},
                     {ValueInfo("i", {}, kInt64), ValueInfo("c", {}, kBool), ValueInfo("s", {1})},
                     {ValueInfo("c_out", {}, kBool), ValueInfo("s_out", {1}),
                      ValueInfo("scan_s", {1}), ValueInfo("i_f", {})});
  ::onnx::NodeProto loop =
      empty_body ? MakeNode("Loop", "loop", {"m", "", "s0"}, {"s_final"})
                 : MakeNode("Loop", "loop", {"m", "", "s0"}, {"s_final", "all_s", "all_i"});
  SetGraph(loop, "body", body);
  std::vector<::onnx::ValueInfoProto> outputs{ValueInfo("s_final", {1})};
  if (!empty_body) {
    outputs.push_back(ValueInfo("all_s", {-1, 1}));
    outputs.push_back(ValueInfo("all_i", {-1}));
  }
  return MakeModel({loop}, {ValueInfo("m", {}, kInt64), ValueInfo("s0", {1}), ValueInfo("x", {1})},
                   outputs);
}

std::vector<Tensor> LoopInputs(int64_t trips) {
  std::vector<Tensor> in;
  in.push_back(Tensor::Int64({}, {trips}));
  in.push_back(Tensor::Float({1}, {0.5f}));
  in.push_back(Tensor::Float({1}, {2}));
  return in;
}

TEST(LoopTest, CarriesValuesAndStacksScanOutputs) {
  absl::StatusOr<Graph> g = Build(SumLoopModel());
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, LoopInputs(3));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(F((*y)[0]), ElementsAre(6.5f));
  EXPECT_EQ((*y)[1].shape(), (onnx::Shape{3, 1}));
  EXPECT_THAT(F((*y)[1]), ElementsAre(2.5f, 4.5f, 6.5f));
  EXPECT_THAT(F((*y)[2]), ElementsAre(0, 1, 2));
  // Zero trips: the initial value passes through, the scans are empty.
  y = RunModel(*g, LoopInputs(0));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(F((*y)[0]), ElementsAre(0.5f));
  EXPECT_EQ((*y)[1].shape()[0], 0);
}

TEST(LoopTest, ABodyWithTheWrongInputCountIsRefusedAtLoad) {
  ::onnx::ModelProto m = SumLoopModel();
  *m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->add_input() =
      ValueInfo("extra", {1});
  absl::StatusOr<Graph> g = Build(m);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(),
              HasSubstr("node 'loop' (#0, Loop): body takes 4 inputs; with 1 loop-carried values "
                        "it must take 3"));
}

TEST(LoopTest, AnUnboundedLoopStopsAtTheDeadline) {
  for (bool empty_body : {false, true}) {
    absl::StatusOr<Graph> g = Build(SumLoopModel(empty_body));
    ASSERT_TRUE(g.ok()) << g.status();
    const int64_t deadline = common::RealClock::Get().NowMicros() + 20'000;
    absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, LoopInputs(INT64_MAX), deadline);
    ASSERT_EQ(y.status().code(), absl::StatusCode::kDeadlineExceeded) << y.status();
    EXPECT_THAT(y.status().message(), HasSubstr("iteration"));
  }
}

TEST(LoopTest, AnUnboundedLoopStopsWhenCancelled) {
  absl::StatusOr<Graph> g = Build(SumLoopModel(/*empty_body=*/true));
  ASSERT_TRUE(g.ok()) << g.status();
  common::CancelSignal cancel;
  std::thread canceller([&cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancel.Cancel();
  });
  absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, LoopInputs(INT64_MAX), 0, &cancel);
  canceller.join();
  ASSERT_EQ(y.status().code(), absl::StatusCode::kCancelled) << y.status();
  EXPECT_THAT(y.status().message(), HasSubstr("loop iteration"));
}

TEST(LoopTest, GrowingScanOutputsStopAtTheMemoryBudget) {
  absl::StatusOr<Graph> g = Build(SumLoopModel());
  ASSERT_TRUE(g.ok()) << g.status();
  onnx::MemoryBudget budget(1 << 16, "limits.memory_mb of the spec");
  onnx::ScopedMemoryBudget scoped(&budget);
  absl::StatusOr<std::vector<Tensor>> y = RunModel(*g, LoopInputs(INT64_MAX));
  ASSERT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument) << y.status();
  EXPECT_THAT(y.status().message(), HasSubstr("ONNX memory limit: limits.memory_mb of the spec"));
  EXPECT_EQ(budget.used(), 0) << "everything the loop held was credited back";
}

// An If nested `depth` deep inside then-branches.
::onnx::ModelProto NestedIfs(int depth) {
  ::onnx::GraphProto inner =
      Subgraph({MakeNode("Neg", "neg", {"x"}, {"v0"})}, {}, {ValueInfo("v0", {2})});
  for (int d = 1; d <= depth; ++d) {
    ::onnx::NodeProto node =
        MakeNode("If", "if" + std::to_string(d), {"cond"}, {"v" + std::to_string(d)});
    SetGraph(node, "then_branch", inner);
    SetGraph(node, "else_branch",
             Subgraph({MakeNode("Identity", "id", {"x"}, {"w" + std::to_string(d)})}, {},
                      {ValueInfo("w" + std::to_string(d), {2})}));
    if (d == depth) {
      node.set_output(0, "y");
      return MakeModel({node}, {ValueInfo("cond", {}, kBool), ValueInfo("x", {2})},
                       {ValueInfo("y", {2})});
    }
    inner = Subgraph({node}, {}, {ValueInfo("v" + std::to_string(d), {2})});
  }
  return {};
}

TEST(SubgraphLimitsTest, NestingPastTheLimitIsRefused) {
  onnx::ModelLimits limits;
  limits.max_subgraph_depth = 4;
  absl::StatusOr<Graph> ok = Build(NestedIfs(4), limits);
  ASSERT_TRUE(ok.ok()) << ok.status();
  std::vector<Tensor> in;
  in.push_back(Tensor::Bool({}, {1}));
  in.push_back(Tensor::Float({2}, {1, 2}));
  absl::StatusOr<std::vector<Tensor>> y = RunModel(*ok, std::move(in));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(F((*y)[0]), ElementsAre(-1, -2));
  absl::StatusOr<Graph> deep = Build(NestedIfs(5), limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(deep.status().message(),
              HasSubstr("subgraphs nest 5 deep (at node 'if1' (#0), attribute 'then_branch'); "
                        "the limit is 4 (ONNX subgraph depth limit)"));
}

TEST(SubgraphLimitsTest, SubgraphNodesCountAgainstMaxNodes) {
  onnx::ModelLimits limits;
  limits.max_nodes = 2;
  absl::StatusOr<Graph> g = Build(IfModel(), limits);  // 1 + 1 + 1 nodes
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(),
              HasSubstr("model has 3 nodes (subgraphs included); the limit is 2 nodes"));
}

TEST(SubgraphLimitsTest, SubgraphConstantsCountInTheMemoryPlan) {
  ::onnx::ModelProto m = IfModel();
  *m.mutable_graph()->mutable_node(0)->mutable_attribute(1)->mutable_g()->add_initializer() =
      FloatInit("unused", {1000}, std::vector<float>(1000, 1.0f));
  absl::StatusOr<Graph> g = Build(m);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GE(onnx::PlanMemory(*g).constant_bytes, 4000 + 8);
  onnx::ModelLimits limits;
  limits.memory_bytes = 4000;
  EXPECT_THAT(Build(m, limits).status().message(), HasSubstr("ONNX memory limit"));
}

}  // namespace
}  // namespace stoa::functions
