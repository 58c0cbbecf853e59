#include "gateway/kserve_codec.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using ::testing::HasSubstr;

std::vector<float> Floats(const v1::Tensor& t) {
  std::vector<float> v(t.raw().size() / sizeof(float));
  std::memcpy(v.data(), t.raw().data(), t.raw().size());
  return v;
}

void ExpectInvalid(std::string_view body, const std::string& needle) {
  auto r = ParseInferRequest(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(needle)) << body;
}

TEST(KserveCodecTest, ParsesFlatData) {
  auto r = ParseInferRequest(
      R"({"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2.5,-3,4e2]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "r1");
  ASSERT_EQ(r->inputs.size(), 1u);
  EXPECT_EQ(r->inputs[0].name(), "x");
  EXPECT_EQ(r->inputs[0].datatype(), v1::FP32);
  EXPECT_THAT(r->inputs[0].shape(), ::testing::ElementsAre(2, 2));
  EXPECT_THAT(Floats(r->inputs[0]), ::testing::ElementsAre(1.f, 2.5f, -3.f, 400.f));
}

TEST(KserveCodecTest, ParsesNestedDataInRowMajorOrder) {
  auto r = ParseInferRequest(
      R"({"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}],
          "outputs":[{"name":"y"}],"parameters":{"a":1}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Floats(r->inputs[0]), ::testing::ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(r->requested_outputs, ::testing::ElementsAre("y"));
}

TEST(KserveCodecTest, ParsesIntegerAndBoolTypes) {
  auto r = ParseInferRequest(
      R"({"inputs":[{"name":"a","shape":[2],"datatype":"INT64","data":[-5,7]},
                    {"name":"b","shape":[3],"datatype":"BOOL","data":[true,false,true]},
                    {"name":"c","shape":[1],"datatype":"INT32","data":[123456]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  int64_t a[2];
  std::memcpy(a, r->inputs[0].raw().data(), 16);
  EXPECT_EQ(a[0], -5);
  EXPECT_EQ(a[1], 7);
  EXPECT_EQ(r->inputs[1].raw(), std::string("\x01\x00\x01", 3));
  EXPECT_EQ(r->inputs[2].raw().size(), 4u);
}

TEST(KserveCodecTest, ErrorsNameTheProblem) {
  ExpectInvalid(R"({"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[1,2]}]})",
                "inputs[0] 'pixels': data has 2 elements, shape [1,64] needs 64");
  ExpectInvalid(R"({"inputs": [1,2,}])", "malformed JSON at byte");
  ExpectInvalid("", "malformed JSON");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP8","data":[1]}]})",
                "unsupported datatype 'FP8'");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})",
                "inputs[0] 'x': missing 'data'");
  ExpectInvalid(R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})",
                "inputs[0]: missing 'name'");
  ExpectInvalid(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})", "missing 'shape'");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", "missing 'datatype'");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
                "'shape' must be an array of non-negative integers");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,"a"]}]})",
                "data[1] is a string, expected a number");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})",
                "expected an integer");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[300]}]})",
                "out of range for UINT8");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e300]}]})",
                "out of range for FP32");
  ExpectInvalid(R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"foo":1}]})",
                "unknown field 'foo'");
  ExpectInvalid(R"({"input":[]})", "unknown field 'input'");
  ExpectInvalid(R"({})", "missing 'inputs'");
  ExpectInvalid(R"([1])", "expected a JSON object");
  ExpectInvalid(R"({"inputs":{}})", "'inputs' must be an array");
  ExpectInvalid(
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},
                    {"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
      "inputs[1] 'x': duplicate input name");
  ExpectInvalid(
      R"({"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP32","data":[1]}]})",
      "is too large");
}

v1::FunctionSpec DigitsSpec() {
  v1::FunctionSpec spec;
  spec.set_name("digits");
  auto* in = spec.add_inputs();
  in->set_name("pixels");
  in->set_datatype(v1::FP32);
  in->add_shape(-1);
  in->add_shape(64);
  auto* out = spec.add_outputs();
  out->set_name("probabilities");
  out->set_datatype(v1::FP32);
  return spec;
}

TEST(KserveCodecTest, ChecksSignature) {
  auto spec = DigitsSpec();
  std::string data = "[" + std::string(63 * 2, ' ') + "]";
  std::string ones;
  for (int i = 0; i < 64; ++i) ones += (i ? ",1" : "1");
  auto ok = ParseInferRequest(
      R"({"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[)" + ones + "]}]}");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(CheckAgainstSignature(*ok, spec).ok());

  auto wrong_type = ParseInferRequest(
      R"({"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP64","data":[)" + ones + "]}]}");
  ASSERT_TRUE(wrong_type.ok());
  auto s = CheckAgainstSignature(*wrong_type, spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("'pixels': datatype FP64 does not match the signature's FP32"));

  auto wrong_shape = ParseInferRequest(
      R"({"inputs":[{"name":"pixels","shape":[2,32],"datatype":"FP32","data":[)" + ones + "]}]}");
  ASSERT_TRUE(wrong_shape.ok());
  s = CheckAgainstSignature(*wrong_shape, spec);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("shape [2,32] does not match the signature's [-1,64]"));

  auto unknown =
      ParseInferRequest(R"({"inputs":[{"name":"img","shape":[1],"datatype":"FP32","data":[1]}]})");
  s = CheckAgainstSignature(*unknown, spec);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'img': function 'digits' has no such input"));

  auto none = ParseInferRequest(R"({"inputs":[]})");
  s = CheckAgainstSignature(*none, spec);
  EXPECT_THAT(std::string(s.message()), HasSubstr("missing input 'pixels'"));

  ok->requested_outputs = {"logits"};
  s = CheckAgainstSignature(*ok, spec);
  EXPECT_THAT(std::string(s.message()), HasSubstr("requested output 'logits'"));
}

}  // namespace
}  // namespace stoa::gateway

namespace stoa::gateway {
namespace {

TEST(KserveCodecTest, DeepNestingIsRefusedBeforeParsing) {
  ExpectInvalid(std::string(16 * 1024 * 1024, '['),
                "the request body nests deeper than 64 levels at byte 64; the limit is 64 "
                "levels (JSON depth limit)");
  const std::string three = R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})";
  EXPECT_TRUE(ParseInferRequest(three, 4).ok());
  EXPECT_FALSE(ParseInferRequest(three, 3).ok());
  // A large malformed body is not parsed a second time to locate the error.
  std::string large = "{\"inputs\":[" + std::string(100 * 1024, ' ') + "}";
  auto r = ParseInferRequest(large);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("malformed JSON: "));
}

}  // namespace
}  // namespace stoa::gateway
