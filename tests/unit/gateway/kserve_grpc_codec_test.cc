#include "gateway/kserve_grpc_codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using ::testing::HasSubstr;

inference::ModelInferRequest Request() {
  inference::ModelInferRequest r;
  r.set_id("7");
  auto* a = r.add_inputs();
  a->set_name("a");
  a->set_datatype("UINT8");
  a->add_shape(3);
  auto* b = r.add_inputs();
  b->set_name("b");
  b->set_datatype("INT8");
  b->add_shape(2);
  return r;
}

TEST(KserveGrpcCodecTest, RawContentsAreMovedIntoTheTensors) {
  inference::ModelInferRequest r = Request();
  r.add_raw_input_contents(std::string("\1\2\3", 3));
  r.add_raw_input_contents(std::string("\xff\x7f", 2));
  auto decoded = DecodeModelInfer(r);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->id, "7");
  ASSERT_EQ(decoded->inputs.size(), 2u);
  EXPECT_EQ(decoded->inputs[0].datatype(), v1::UINT8);
  EXPECT_EQ(decoded->inputs[0].raw(), std::string("\1\2\3", 3));
  EXPECT_EQ(decoded->inputs[1].raw(), std::string("\xff\x7f", 2));
}

TEST(KserveGrpcCodecTest, TypedContentsAreRangeChecked) {
  inference::ModelInferRequest r = Request();
  for (uint32_t v : {0u, 255u, 7u}) r.mutable_inputs(0)->mutable_contents()->add_uint_contents(v);
  for (int32_t v : {-128, 127}) r.mutable_inputs(1)->mutable_contents()->add_int_contents(v);
  auto decoded = DecodeModelInfer(r);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->inputs[0].raw(), std::string("\0\xff\7", 3));
  EXPECT_EQ(decoded->inputs[1].raw(), std::string("\x80\x7f", 2));
  r.mutable_inputs(0)->mutable_contents()->set_uint_contents(1, 256);
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("inputs[0] 'a': contents[1] = 256 is out of range"));
}

TEST(KserveGrpcCodecTest, ErrorsNameTheInput) {
  inference::ModelInferRequest r = Request();
  r.add_raw_input_contents("abc");
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("raw_input_contents has 1 entries for 2 inputs"));
  r.add_raw_input_contents("abc");
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("inputs[1] 'b': has 3 bytes of data, shape [2] of INT8 needs 2"));
  r = Request();
  r.mutable_inputs(1)->set_datatype("FP16");
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("inputs[0] 'a': has 0 bytes of data"));
  r.mutable_inputs(0)->mutable_contents()->add_uint_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_uint_contents(1);
  r.mutable_inputs(0)->mutable_contents()->add_uint_contents(1);
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("inputs[1] 'b': FP16 has no typed contents: send raw_input_contents"));
  r = Request();
  r.mutable_inputs(0)->set_datatype("BYTES");
  EXPECT_THAT(DecodeModelInfer(r).status().message(),
              HasSubstr("inputs[0] 'a': datatype BYTES is not supported"));
  r = Request();
  r.mutable_inputs(1)->set_name("a");
  r.add_raw_input_contents("abc");
  r.add_raw_input_contents("ab");
  EXPECT_THAT(DecodeModelInfer(r).status().message(), HasSubstr("duplicate input name"));
}

TEST(KserveGrpcCodecTest, OutputsAreAnsweredRawAndFiltered) {
  v1::InvokeResponse outputs;
  auto* y = outputs.add_outputs();
  y->set_name("y");
  y->set_datatype(v1::INT64);
  y->add_shape(1);
  y->set_raw(std::string(8, '\1'));
  auto* z = outputs.add_outputs();
  z->set_name("z");
  z->set_datatype(v1::BOOL);
  z->add_shape(1);
  z->set_raw("\1");
  InferRequest request;
  request.id = "q";
  request.requested_outputs = {"z"};
  inference::ModelInferResponse response;
  ASSERT_TRUE(EncodeModelInfer("m", 2, request, outputs, response).ok());
  EXPECT_EQ(response.model_version(), "2");
  EXPECT_EQ(response.id(), "q");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "BOOL");
  EXPECT_EQ(response.raw_output_contents(0), "\1");
  outputs.mutable_outputs(0)->set_raw("short");
  inference::ModelInferResponse bad;
  EXPECT_EQ(EncodeModelInfer("m", 2, InferRequest{}, outputs, bad).code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace stoa::gateway
