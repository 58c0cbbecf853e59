// Control flow through the real stoa-gateway and stoa-executor: a model with
// an If (whose branch reads the main graph's input) and a Loop registers,
// loads and answers on both tiers with the values the ops define; a Loop
// whose trip count is INT64_MAX is stopped by the function's deadline (504)
// on both tiers, and both processes keep serving; a model whose If branches
// disagree is refused at registration with a 400 naming the node.
#include <chrono>
#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace b = ::stoa::functions::testing;

void SetGraph(::onnx::NodeProto& node, const std::string& name, ::onnx::GraphProto g) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::GRAPH);
  *a->mutable_g() = std::move(g);
}

::onnx::GraphProto Graph(std::vector<::onnx::NodeProto> nodes,
                         std::vector<::onnx::ValueInfoProto> inputs,
                         std::vector<::onnx::ValueInfoProto> outputs) {
  return b::MakeModel(std::move(nodes), std::move(inputs), std::move(outputs)).graph();
}

// y = sum(x) > 0 ? relu(x) : -x, then doubled three times by a Loop (y * 8).
::onnx::ModelProto ChooseAndLoopModel() {
  ::onnx::NodeProto choose = b::MakeNode("If", "choose", {"positive"}, {"chosen"});
  SetGraph(choose, "then_branch",
           Graph({b::MakeNode("Relu", "relu", {"x"}, {"r"})}, {}, {b::ValueInfo("r", {1, 4})}));
  SetGraph(choose, "else_branch",
           Graph({b::MakeNode("Neg", "neg", {"x"}, {"n"})}, {}, {b::ValueInfo("n", {1, 4})}));
  ::onnx::NodeProto loop = b::MakeNode("Loop", "triple", {"three", "", "chosen"}, {"y"});
  SetGraph(
      loop, "body",
      Graph({b::MakeNode("Identity", "keep", {"c"}, {"c_out"}),
             b::MakeNode("Add", "double", {"v", "v"}, {"v_out"})},
            {b::ValueInfo("i", {}, ::onnx::TensorProto::INT64),
             b::ValueInfo("c", {}, ::onnx::TensorProto::BOOL), b::ValueInfo("v", {1, 4})},
            {b::ValueInfo("c_out", {}, ::onnx::TensorProto::BOOL), b::ValueInfo("v_out", {1, 4})}));
  ::onnx::TensorProto three = b::Int64Init("three", {3});
  three.clear_dims();
  return b::MakeModel({b::MakeNode("ReduceSum", "sum", {"x"}, {"s"}),
                       b::MakeNode("Greater", "gt", {"s", "zero"}, {"positive"}), choose, loop},
                      {b::ValueInfo("x", {1, 4})}, {b::ValueInfo("y", {1, 4})},
                      {b::FloatInit("zero", {1}, {0}), three});
}

// s = x + 1 forever: Loop(INT64_MAX, "", x).
::onnx::ModelProto SpinModel() {
  ::onnx::NodeProto loop = b::MakeNode("Loop", "spin", {"forever", "", "x"}, {"y"});
  SetGraph(
      loop, "body",
      Graph({b::MakeNode("Identity", "keep", {"c"}, {"c_out"}),
             b::MakeNode("Add", "inc", {"v", "one"}, {"v_out"})},
            {b::ValueInfo("i", {}, ::onnx::TensorProto::INT64),
             b::ValueInfo("c", {}, ::onnx::TensorProto::BOOL), b::ValueInfo("v", {1})},
            {b::ValueInfo("c_out", {}, ::onnx::TensorProto::BOOL), b::ValueInfo("v_out", {1})}));
  ::onnx::TensorProto forever = b::Int64Init("forever", {INT64_MAX});
  forever.clear_dims();
  return b::MakeModel({loop}, {b::ValueInfo("x", {1})}, {b::ValueInfo("y", {1})},
                      {forever, b::FloatInit("one", {1}, {1})});
}

std::string Body(const std::string& name, std::vector<int64_t> shape, std::vector<float> data) {
  json body;
  body["inputs"] =
      json::array({{{"name", name}, {"shape", shape}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

std::vector<float> Output(const HttpResult& r) {
  json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  std::vector<float> out;
  if (body.is_discarded() || !body["outputs"].is_array() || body["outputs"].empty()) return out;
  for (const auto& v : body["outputs"][0]["data"]) out.push_back(v.get<float>());
  return out;
}

class OnnxControlFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Platform platform = StartPlatform("onnx-control-flow");
    executor_ = std::move(platform.executor);
    gateway_ = std::move(platform.gateway);
    client_ = std::move(platform.client);
    ASSERT_NE(client_, nullptr);
    ASSERT_EQ(RegisterDigits(*client_), 201);
  }

  void ExpectServing() {
    EXPECT_TRUE(gateway_->Running());
    EXPECT_TRUE(executor_->Running());
    json body;
    body["inputs"] = json::array({{{"name", "pixels"},
                                   {"shape", {1, 64}},
                                   {"datatype", "FP32"},
                                   {"data", std::vector<float>(64, 8.0f)}}});
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client_->Post("/v1/functions/digits/invoke?tier=" + tier, body.dump());
      EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
    }
  }

  HttpResult Register(const std::string& spec, const ::onnx::ModelProto& model) {
    Multipart reg = MakeRegistration(spec, model.SerializeAsString());
    return client_->Request("POST", "/v1/functions", reg.body, reg.content_type);
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(OnnxControlFlowTest, IfAndLoopAnswerOnBothTiers) {
  HttpResult reg = Register(R"({"name":"ctl","runtime":"onnx"})", ChooseAndLoopModel());
  ASSERT_EQ(reg.status, 201) << reg.body;
  for (const std::string tier : {"edge", "cloud"}) {
    const std::string target = "/v1/functions/ctl/invoke?tier=" + tier;
    HttpResult pos = client_->Post(target, Body("x", {1, 4}, {1, -2, 3, 0.5f}));
    ASSERT_EQ(pos.status, 200) << tier << ": " << pos.body;
    EXPECT_EQ(Output(pos), (std::vector<float>{8, 0, 24, 4})) << tier;
    HttpResult neg = client_->Post(target, Body("x", {1, 4}, {-1, -2, -3, 0.5f}));
    ASSERT_EQ(neg.status, 200) << tier << ": " << neg.body;
    EXPECT_EQ(Output(neg), (std::vector<float>{8, 16, 24, -4})) << tier;
  }
  ExpectServing();
}

TEST_F(OnnxControlFlowTest, AnEndlessLoopIsStoppedByTheDeadlineOnBothTiers) {
  HttpResult reg =
      Register(R"({"name":"spin","runtime":"onnx","limits":{"timeout_ms":300}})", SpinModel());
  ASSERT_EQ(reg.status, 201) << reg.body;
  for (const std::string tier : {"edge", "cloud"}) {
    const auto start = std::chrono::steady_clock::now();
    HttpResult r = client_->Post("/v1/functions/spin/invoke?tier=" + tier, Body("x", {1}, {0}));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.status, 504) << tier << ": " << r.body;
    EXPECT_LT(seconds, 10.0) << tier;
  }
  ExpectServing();
}

TEST_F(OnnxControlFlowTest, BranchesThatDisagreeAreRefusedAtRegistration) {
  ::onnx::ModelProto m = ChooseAndLoopModel();
  *m.mutable_graph()->mutable_node(2)->mutable_attribute(0)->mutable_g()->add_output() =
      b::ValueInfo("x", {1, 4});
  HttpResult reg = Register(R"({"name":"bad","runtime":"onnx"})", m);
  EXPECT_EQ(reg.status, 400) << reg.body;
  EXPECT_THAT(reg.body, HasSubstr("node 'choose' (#2, If): then_branch has 2 outputs and "
                                  "else_branch 1"));
  EXPECT_EQ(client_->Get("/v1/functions/bad").status, 404);
  ExpectServing();
}

}  // namespace
}  // namespace stoa::testing
