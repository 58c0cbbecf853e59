// The data-passing rule between pipeline stages, in binary.
#include "functions/stage_data.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::functions {
namespace {

using ::testing::HasSubstr;

v1::FunctionSpec OnnxStage(std::vector<std::pair<std::string, std::vector<int64_t>>> inputs) {
  v1::FunctionSpec spec;
  spec.set_name("model");
  spec.set_runtime("onnx");
  for (auto& [name, shape] : inputs) {
    auto* s = spec.add_inputs();
    s->set_name(name);
    s->set_datatype(v1::FP32);
    for (int64_t d : shape) s->add_shape(d);
  }
  return spec;
}

v1::FunctionSpec WasmStage() {
  v1::FunctionSpec spec;
  spec.set_name("post");
  spec.set_runtime("wasm");
  return spec;
}

v1::Tensor Floats(const std::string& name, std::vector<int64_t> shape, std::vector<float> values) {
  v1::Tensor t;
  t.set_name(name);
  t.set_datatype(v1::FP32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_raw(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return t;
}

TEST(PipelineDataTest, TensorsAreRenamedByPosition) {
  v1::InvokeResponse out;
  *out.add_outputs() = Floats("probabilities", {1, 2}, {0.25f, 0.75f});
  auto request = StageRequest(AsNextInput(std::move(out)), OnnxStage({{"x", {-1, 2}}}));
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs_size(), 1);
  EXPECT_EQ(request->inputs(0).name(), "x");
  EXPECT_EQ(request->inputs(0).raw().size(), 8u);
  EXPECT_TRUE(request->raw().empty());
}

TEST(PipelineDataTest, BytesBecomeTheSingleInputWithTheDynamicDimensionInferred) {
  std::vector<float> pixels(128, 1.0f);
  v1::InvokeRequest in;
  in.set_raw(std::string(reinterpret_cast<const char*>(pixels.data()), 512));
  auto request = StageRequest(std::move(in), OnnxStage({{"pixels", {-1, 64}}}));
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs_size(), 1);
  EXPECT_EQ(request->inputs(0).name(), "pixels");
  EXPECT_THAT(request->inputs(0).shape(), ::testing::ElementsAre(2, 64));
  EXPECT_EQ(request->inputs(0).datatype(), v1::FP32);
}

TEST(PipelineDataTest, BytesThatDoNotMakeTheInputAreNamed) {
  v1::InvokeRequest in;
  in.set_raw(std::string(100, 'x'));
  auto request = StageRequest(std::move(in), OnnxStage({{"pixels", {-1, 64}}}));
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(request.status().message(),
            "got 100 bytes, which do not make input 'pixels' FP32 [-1,64] (a multiple of 256 "
            "bytes)");
  v1::InvokeRequest fixed;
  fixed.set_raw(std::string(512, 'x'));
  EXPECT_THAT(StageRequest(std::move(fixed), OnnxStage({{"pixels", {1, 64}}})).status().message(),
              HasSubstr("(exactly 256 bytes)"));
  v1::InvokeRequest two;
  two.set_raw(std::string(8, 'x'));
  EXPECT_THAT(StageRequest(std::move(two), OnnxStage({{"a", {2}}, {"b", {2}}})).status().message(),
              HasSubstr("got bytes; 'model' takes 2 inputs"));
}

TEST(PipelineDataTest, TensorsForAWasmStageAreConcatenatedRawBytes) {
  v1::InvokeResponse out;
  *out.add_outputs() = Floats("a", {1}, {1.0f});
  *out.add_outputs() = Floats("b", {2}, {2.0f, 3.0f});
  auto request = StageRequest(AsNextInput(std::move(out)), WasmStage());
  ASSERT_TRUE(request.ok());
  ASSERT_EQ(request->raw().size(), 12u);
  float values[3];
  std::memcpy(values, request->raw().data(), 12);
  EXPECT_EQ(values[2], 3.0f);
  EXPECT_EQ(request->inputs_size(), 0);
}

TEST(PipelineDataTest, AWrongDatatypeOrCountIsNamed) {
  v1::InvokeResponse out;
  v1::Tensor t = Floats("ids", {1}, {1.0f});
  t.set_datatype(v1::INT32);
  *out.add_outputs() = t;
  EXPECT_EQ(StageRequest(AsNextInput(std::move(out)), OnnxStage({{"x", {1}}})).status().message(),
            "tensor 0 'ids' is INT32; input 'x' takes FP32");
  v1::InvokeResponse two;
  *two.add_outputs() = Floats("a", {1}, {1.0f});
  *two.add_outputs() = Floats("b", {1}, {1.0f});
  EXPECT_EQ(StageRequest(AsNextInput(std::move(two)), OnnxStage({{"x", {1}}})).status().message(),
            "got 2 tensors; 'model' takes 1 inputs");
}

}  // namespace
}  // namespace stoa::functions
