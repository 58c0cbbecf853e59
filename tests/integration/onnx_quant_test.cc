// Quantized models through the real stoa-gateway and stoa-executor: a
// QOperator model (QLinearConv with per-channel weight scales and an INT32
// bias, then an 8-bit MaxPool) registers, loads and answers UINT8 requests
// on both tiers with the values ONNX's integer semantics give; a model whose
// weight zero point has the wrong type is refused at registration with a
// 400 naming the node and the problem, and nothing is stored.
#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;
namespace b = ::stoa::functions::testing;

::onnx::TensorProto Narrow(const std::string& name, int32_t type, std::vector<int64_t> dims,
                           std::vector<int32_t> values) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  for (int32_t v : values) t.add_int32_data(v);
  return t;
}

// x UINT8 [1,1,2,2] -> QLinearConv (2 maps) -> MaxPool 1x2 -> y UINT8 [1,2,2,1].
::onnx::ModelProto QConvPoolModel(int32_t w_zp_type) {
  const int32_t u8 = ::onnx::TensorProto::UINT8, i8 = ::onnx::TensorProto::INT8;
  ::onnx::NodeProto pool = b::MakeNode("MaxPool", "pool", {"c"}, {"y"});
  auto* k = pool.add_attribute();
  k->set_name("kernel_shape");
  k->set_type(::onnx::AttributeProto::INTS);
  k->add_ints(1);
  k->add_ints(2);
  ::onnx::TensorProto bias = Narrow("B", ::onnx::TensorProto::INT32, {2}, {1, -4});
  return b::MakeModel(
      {b::MakeNode("QLinearConv", "qconv",
                   {"x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "B"}, {"c"}),
       pool},
      {b::ValueInfo("x", {1, 1, 2, 2}, u8)}, {b::ValueInfo("y", {1, 2, 2, 1}, u8)},
      {b::FloatInit("x_scale", {}, {0.5f}), Narrow("x_zp", u8, {}, {10}),
       Narrow("w", i8, {2, 1, 1, 1}, {2, -3}), b::FloatInit("w_scale", {2}, {0.25f, 1.0f}),
       Narrow("w_zp", w_zp_type, {2}, {0, 0}), b::FloatInit("y_scale", {}, {1.0f}),
       Narrow("y_zp", u8, {}, {5}), bias});
}

class OnnxQuantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Platform platform = StartPlatform("onnx-quant");
    executor_ = std::move(platform.executor);
    gateway_ = std::move(platform.gateway);
    client_ = std::move(platform.client);
    ASSERT_NE(client_, nullptr);
  }

  HttpResult Register(const std::string& name, const ::onnx::ModelProto& model) {
    Multipart reg = MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx"})",
                                     model.SerializeAsString());
    return client_->Request("POST", "/v1/functions", reg.body, reg.content_type);
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(OnnxQuantTest, QLinearConvAndEightBitMaxPoolAnswerOnBothTiers) {
  HttpResult reg = Register("qconv", QConvPoolModel(::onnx::TensorProto::INT8));
  ASSERT_EQ(reg.status, 201) << reg.body;
  json body;
  body["inputs"] = json::array({{{"name", "x"},
                                 {"shape", {1, 1, 2, 2}},
                                 {"datatype", "UINT8"},
                                 {"data", {10, 20, 30, 40}}}});
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = client_->Post("/v1/functions/qconv/invoke?tier=" + tier, body.dump());
    ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    json out = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(out.is_discarded()) << r.body;
    EXPECT_EQ(out["outputs"][0]["datatype"], "UINT8") << r.body;
    // Map 0: [5, 8, 10, 13], map 1: [3, 0, 0, 0] (kernels_qlinear_test), then
    // the max of each row pair.
    std::vector<int> y = out["outputs"][0]["data"].get<std::vector<int>>();
    EXPECT_THAT(y, ElementsAre(8, 13, 3, 0)) << tier;
  }
}

TEST_F(OnnxQuantTest, AWrongZeroPointTypeIsRefusedAtRegistrationNamingTheNode) {
  HttpResult reg = Register("badq", QConvPoolModel(::onnx::TensorProto::UINT8));
  EXPECT_EQ(reg.status, 400) << reg.body;
  EXPECT_THAT(reg.body, HasSubstr("node 'qconv' (#0, QLinearConv): zero point 'w_zp' is UINT8; "
                                  "its data 'w' is INT8"));
  EXPECT_EQ(client_->Get("/v1/functions/badq").status, 404);
  EXPECT_TRUE(gateway_->Running());
  EXPECT_TRUE(executor_->Running());
  HttpResult ok = Register("qconv", QConvPoolModel(::onnx::TensorProto::INT8));
  EXPECT_EQ(ok.status, 201) << ok.body;
}

}  // namespace
}  // namespace stoa::testing
