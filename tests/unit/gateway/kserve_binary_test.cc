#include "gateway/kserve_binary.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHeader[] =
    R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}},)"
    R"({"name":"m","shape":[2],"datatype":"BOOL","data":[true,false]},)"
    R"({"name":"h","shape":[1],"datatype":"FP16","parameters":{"binary_data_size":2}}]})";

std::string Body(std::string tail) { return std::string(kHeader) + tail; }

std::string Header() { return std::to_string(std::strlen(kHeader)); }

std::string FloatBytes(std::vector<float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::string Error(const std::string& body, const std::string& header) {
  auto r = ParseHttpInferRequest(body, header);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(KserveBinaryTest, BinaryInputsTakeTheirBytesInInputOrder) {
  auto r =
      ParseHttpInferRequest(Body(FloatBytes({1.5f, -2}) + std::string("\x00\x3c", 2)), Header());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_EQ(r->inputs[0].raw(), FloatBytes({1.5f, -2}));
  EXPECT_EQ(r->inputs[1].raw(), std::string("\1\0", 2));  // JSON data mixes in
  EXPECT_EQ(r->inputs[2].datatype(), v1::FP16);
  EXPECT_EQ(r->inputs[2].raw(), std::string("\x00\x3c", 2));
}

TEST(KserveBinaryTest, SizesAndLengthsAreChecked) {
  const std::string good = FloatBytes({1, 2}) + std::string("\x00\x3c", 2);
  EXPECT_THAT(Error(Body(good), "x12"), HasSubstr("must be a decimal byte count, got 'x12'"));
  EXPECT_THAT(Error(Body(good), "-5"), HasSubstr("decimal byte count"));
  EXPECT_THAT(Error(Body(good), "99999999999999999999999"), HasSubstr("decimal byte count"));
  EXPECT_THAT(Error(Body(good), "100000"), HasSubstr("is 100000 bytes, but the body has only"));
  EXPECT_THAT(Error(Body(good.substr(0, 5)), Header()),
              HasSubstr("inputs[0] 'x': binary_data_size is 8 bytes, but only 5 bytes"));
  EXPECT_THAT(Error(Body(good + "!"), Header()),
              HasSubstr("the binary data is 11 bytes, the inputs' binary_data_size add up to 10"));
  // Without the header, binary_data_size has nothing to point at.
  EXPECT_THAT(Error(Body(""), ""), HasSubstr("'binary_data_size' needs binary data"));
  const std::string mismatch =
      R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":4}}]})";
  EXPECT_THAT(Error(mismatch + "1234", std::to_string(mismatch.size())),
              HasSubstr("inputs[0] 'x': binary_data_size is 4 bytes, shape [1,2] of FP32 needs 8"));
  const std::string overflow =
      R"({"inputs":[{"name":"x","shape":[4294967296,4294967296],"datatype":"FP64","parameters":{"binary_data_size":0}}]})";
  EXPECT_THAT(Error(overflow, std::to_string(overflow.size())), HasSubstr("is too large"));
  const std::string both =
      R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]})";
  EXPECT_THAT(Error(both + "1234", std::to_string(both.size())),
              HasSubstr("has both 'data' and 'binary_data_size'"));
  const std::string bytes =
      R"({"inputs":[{"datatype":"BYTES","name":"s","shape":[1],"parameters":{"binary_data_size":4}}]})";
  EXPECT_THAT(Error(bytes + "1234", std::to_string(bytes.size())),
              HasSubstr("inputs[0] 's': datatype BYTES is not supported"));
}

v1::Tensor Out(std::string name, v1::DataType type, std::vector<int64_t> shape, std::string raw) {
  v1::Tensor t;
  t.set_name(std::move(name));
  t.set_datatype(type);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(std::move(raw));
  return t;
}

TEST(KserveBinaryTest, OutputsAskedAsBinaryFollowTheJson) {
  google::protobuf::RepeatedPtrField<v1::Tensor> outputs;
  *outputs.Add() = Out("y", v1::FP32, {2}, FloatBytes({0.5f, 3}));
  *outputs.Add() = Out("ids", v1::INT32, {1}, std::string("\7\0\0\0", 4));
  *outputs.Add() = Out("h", v1::FP16, {1}, std::string("\x00\x3c", 2));
  InferRequest ask;
  ask.binary_data_output = true;
  ask.output_binary["ids"] = false;
  auto r = RenderHttpInferResponse("m", 3, ask, outputs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->content_type, "application/octet-stream");
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers[0].first, "Inference-Header-Content-Length");
  const size_t json = std::stoul(r->headers[0].second);
  EXPECT_EQ(r->body.substr(json), FloatBytes({0.5f, 3}) + std::string("\x00\x3c", 2));
  EXPECT_THAT(
      r->body.substr(0, json),
      HasSubstr(
          R"({"name":"y","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}})"));
  EXPECT_THAT(r->body.substr(0, json),
              HasSubstr(R"({"name":"ids","shape":[1],"datatype":"INT32","data":[7]})"));

  InferRequest plain;  // no binary asked: JSON, FP16 as numbers
  r = RenderHttpInferResponse("m", 3, plain, outputs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_TRUE(r->headers.empty());
  EXPECT_THAT(r->body, HasSubstr(R"("datatype":"FP16","data":[1])"));

  auto small = RenderHttpInferResponse("m", 3, ask, outputs, /*max_bytes=*/64);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted) << small.status();
  EXPECT_THAT(small.status().message(), HasSubstr("the limit is 64 bytes"));
}

TEST(KserveBinaryTest, RequestParametersChooseBinaryOutputs) {
  auto r = ParseHttpInferRequest(
      R"({"inputs":[],"outputs":[{"name":"a","parameters":{"binary_data":true}},{"name":"b"}]})",
      "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->WantsBinary("a"));
  EXPECT_FALSE(r->WantsBinary("b"));
  r = ParseHttpInferRequest(
      R"({"inputs":[],"parameters":{"binary_data_output":true},"outputs":[{"name":"a","parameters":{"binary_data":false}}]})",
      "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->WantsBinary("a"));
  EXPECT_TRUE(r->WantsBinary("other"));
  EXPECT_THAT(Error(R"({"inputs":[],"parameters":{"binary_data_output":1}})", ""),
              HasSubstr("parameter 'binary_data_output' must be true or false"));
}

TEST(KserveBinaryTest, Fp16JsonNumbersAreRoundedToHalf) {
  auto r = ParseHttpInferRequest(
      R"({"inputs":[{"name":"h","shape":[3],"datatype":"FP16","data":[1,-2.5,65504]}]})", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].raw(), std::string("\x00\x3c\x00\xc1\xff\x7b", 6));
  EXPECT_THAT(
      Error(R"({"inputs":[{"name":"h","shape":[1],"datatype":"FP16","data":[70000]}]})", ""),
      HasSubstr("value 70000 is out of range for FP16"));
}

}  // namespace
}  // namespace stoa::gateway
