#include "gateway/kserve_response.h"

#include "gateway/kserve_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway {
namespace {

using ::testing::HasSubstr;

TEST(KserveResponseTest, RendersShortestRoundTripFloats) {
  google::protobuf::RepeatedPtrField<v1::Tensor> outputs;
  v1::Tensor* t = outputs.Add();
  t->set_name("probabilities");
  t->set_datatype(v1::FP32);
  t->add_shape(1);
  t->add_shape(3);
  float v[3] = {0.1f, 1.0f, 1e-7f};
  t->set_raw(std::string(reinterpret_cast<const char*>(v), sizeof(v)));
  v1::Tensor* skipped = outputs.Add();
  skipped->set_name("other");
  skipped->set_datatype(v1::INT64);

  auto body = RenderInferResponse("digits", 3, "req-1", outputs, {"probabilities"});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(
      *body,
      R"({"model_name":"digits","model_version":"3","id":"req-1","outputs":[{"name":"probabilities","shape":[1,3],"datatype":"FP32","data":[0.1,1,1e-07]}]})");

  // The rendered output parses back to identical bits.
  std::string again =
      R"({"inputs":[{"name":"p","shape":[1,3],"datatype":"FP32","data":[0.1,1,1e-07]}]})";
  auto parsed = ParseInferRequest(again);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->inputs[0].raw(), t->raw());
}

TEST(KserveResponseTest, NamesThatAreNotUtf8RenderAsValidJson) {
  google::protobuf::RepeatedPtrField<v1::Tensor> outputs;
  v1::Tensor* t = outputs.Add();
  t->set_name("out\xff\xfe");
  t->set_datatype(v1::FP32);
  t->add_shape(1);
  float v = 2.5f;
  t->set_raw(std::string(reinterpret_cast<const char*>(&v), sizeof(v)));
  absl::StatusOr<std::string> body;
  ASSERT_NO_THROW(body = RenderInferResponse("m\xc3(", 1, "id\x80", outputs, {}));
  ASSERT_TRUE(body.ok()) << body.status();
  nlohmann::json doc = nlohmann::json::parse(*body);  // strict: refuses invalid UTF-8
  EXPECT_EQ(doc["model_name"], "m\xEF\xBF\xBD(");
  EXPECT_EQ(doc["id"], "id\xEF\xBF\xBD");
  EXPECT_EQ(doc["outputs"][0]["name"], "out\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(doc["outputs"][0]["data"][0], 2.5);
}

TEST(KserveResponseTest, RenderRejectsInconsistentTensor) {
  google::protobuf::RepeatedPtrField<v1::Tensor> outputs;
  v1::Tensor* t = outputs.Add();
  t->set_name("y");
  t->set_datatype(v1::FP32);
  t->add_shape(2);
  t->set_raw(std::string(4, '\0'));
  auto body = RenderInferResponse("f", 1, "", outputs);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(body.status().message()),
              HasSubstr("'y' has 4 bytes, shape [2] needs 8"));
}

}  // namespace
}  // namespace stoa::gateway

namespace stoa::gateway {
namespace {

TEST(KserveResponseTest, JsonTextOverTheOutputLimitIsRefused) {
  google::protobuf::RepeatedPtrField<v1::Tensor> outputs;
  v1::Tensor* t = outputs.Add();
  t->set_name("y");
  t->set_datatype(v1::FP32);
  t->add_shape(100000);
  std::vector<float> v(100000, 0.123456789f);
  t->set_raw(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  // 400 KB of floats are about 1.1 MB of JSON text.
  EXPECT_TRUE(RenderInferResponse("m", 1, "", outputs, {}, 0).ok());
  EXPECT_TRUE(RenderInferResponse("m", 1, "", outputs, {}, 2'000'000).ok());
  auto body = RenderInferResponse("m", 1, "", outputs, {}, 500'000);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(std::string(body.status().message()),
            "function 'm' output as JSON is more than 500000 bytes; the limit is 500000 bytes "
            "(output size limit)");
}

}  // namespace
}  // namespace stoa::gateway
