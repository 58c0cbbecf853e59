// The quantization kernels (kernels_quant.cc) and the narrow integer types
// they need: QuantizeLinear / DequantizeLinear per tensor and per axis,
// UINT8 and INT8, rounding half to even and saturation;
// DynamicQuantizeLinear's scale and zero point; Cast to and from UINT8/INT8;
// initializers of those types; the errors a bad model gets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op,
                                          const std::vector<const Tensor*>& args,
                                          Attributes attrs = {}) {
  static const OpRegistry* registry = new OpRegistry(DefaultOpRegistry());
  const OpKernel* kernel = registry->Find(op);
  if (kernel == nullptr) return absl::NotFoundError(op);
  Node node;
  node.name = "t";
  node.op_type = op;
  node.opset = 13;
  node.attributes = std::move(attrs);
  node.kernel = *kernel;
  for (int i = 0; i < kernel->max_outputs; ++i) node.outputs.push_back(100 + i);
  for (size_t i = 0; i < args.size(); ++i) node.input_names.push_back("in" + std::to_string(i));
  if (kernel->validate != nullptr) RETURN_IF_ERROR(kernel->validate(node));
  return kernel->run(node, args);
}

Tensor Run1(const std::string& op, const std::vector<const Tensor*>& args, Attributes attrs = {}) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, args, std::move(attrs));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() && !out->empty() ? (*out)[0] : Tensor();
}

std::vector<int> U8(const Tensor& t) { return {t.uint8s().begin(), t.uint8s().end()}; }
std::vector<int> I8(const Tensor& t) { return {t.int8s().begin(), t.int8s().end()}; }
std::vector<float> F(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }

Attributes Axis(int64_t axis) {
  Attributes a;
  a.Set("axis", axis);
  return a;
}

TEST(QuantizeLinearTest, PerTensorUint8RoundsHalfToEvenAndSaturates) {
  const Tensor x = Tensor::Float({8}, {0.0f, 2.0f, 3.0f, 5.0f, -2.0f, 1000.0f, -1000.0f, 1.0f});
  const Tensor scale = Tensor::Float({}, {2.0f});
  const Tensor zp = Tensor::UInt8({}, {128});
  const Tensor y = Run1("QuantizeLinear", {&x, &scale, &zp});
  ASSERT_EQ(y.type(), ElementType::kUInt8);
  // 1.5 -> 2 and 2.5 -> 2 (half to even), 0.5 -> 0.
  EXPECT_THAT(U8(y), ElementsAre(128, 129, 130, 130, 127, 255, 0, 128));
}

TEST(QuantizeLinearTest, WithoutAZeroPointTheOutputIsUint8) {
  const Tensor x = Tensor::Float({3}, {-1.0f, 0.4f, 7.6f});
  const Tensor scale = Tensor::Float({}, {1.0f});
  const Tensor y = Run1("QuantizeLinear", {&x, &scale});
  ASSERT_EQ(y.type(), ElementType::kUInt8);
  EXPECT_THAT(U8(y), ElementsAre(0, 0, 8));
}

TEST(QuantizeLinearTest, PerAxisInt8UsesOneScaleAndZeroPointPerChannel) {
  // x [1, 2, 2]: channel 0 scale 1 zp 0, channel 1 scale 0.5 zp -10.
  const Tensor x = Tensor::Float({1, 2, 2}, {1.0f, -200.0f, 1.0f, 100.0f});
  const Tensor scale = Tensor::Float({2}, {1.0f, 0.5f});
  const Tensor zp = Tensor::Int8({2}, {0, -10});
  const Tensor y = Run1("QuantizeLinear", {&x, &scale, &zp}, Axis(1));
  ASSERT_EQ(y.type(), ElementType::kInt8);
  EXPECT_THAT(I8(y), ElementsAre(1, -128, -8, 127));
}

TEST(DequantizeLinearTest, PerTensorAndPerAxis) {
  const Tensor x = Tensor::UInt8({4}, {0, 128, 129, 255});
  const Tensor scale = Tensor::Float({}, {0.5f});
  const Tensor zp = Tensor::UInt8({}, {128});
  EXPECT_THAT(F(Run1("DequantizeLinear", {&x, &scale, &zp})),
              Pointwise(FloatNear(1e-6f), {-64.0f, 0.0f, 0.5f, 63.5f}));
  const Tensor xi = Tensor::Int8({2, 2}, {-128, 127, -128, 127});
  const Tensor scales = Tensor::Float({2}, {1.0f, 2.0f});
  const Tensor zps = Tensor::Int8({2}, {0, -1});
  EXPECT_THAT(F(Run1("DequantizeLinear", {&xi, &scales, &zps}, Axis(0))),
              Pointwise(FloatNear(1e-6f), {-128.0f, 127.0f, -254.0f, 256.0f}));
  const Tensor x32 = Tensor::Int32({2}, {-70000, 3});
  EXPECT_THAT(F(Run1("DequantizeLinear", {&x32, &scale})),
              Pointwise(FloatNear(1e-6f), {-35000.0f, 1.5f}));
}

TEST(DequantizeLinearTest, QuantizeThenDequantizeStaysWithinHalfAStep) {
  std::vector<float> v;
  for (int i = 0; i < 200; ++i) v.push_back(-3.0f + 0.03f * static_cast<float>(i));
  const Tensor x = Tensor::Float({200}, v);
  const Tensor scale = Tensor::Float({}, {0.025f});
  const Tensor zp = Tensor::Int8({}, {3});
  const Tensor q = Run1("QuantizeLinear", {&x, &scale, &zp});
  const Tensor back = Run1("DequantizeLinear", {&q, &scale, &zp});
  ASSERT_EQ(back.size(), 200);
  for (int i = 0; i < 200; ++i) {
    // Values inside INT8's range come back within half a step; below it they saturate.
    const float lo = (-128 - 3) * 0.025f;
    if (v[i] >= lo) {
      EXPECT_NEAR(back.floats()[i], v[i], 0.0125f + 1e-6f) << i;
    } else {
      EXPECT_FLOAT_EQ(back.floats()[i], lo) << i;
    }
  }
}

TEST(DynamicQuantizeLinearTest, ScaleAndZeroPointCoverTheRangeAndZero) {
  const Tensor x = Tensor::Float({2, 3}, {0.0f, 2.0f, -3.0f, -8.5f, 1.0f, 17.0f});
  absl::StatusOr<std::vector<Tensor>> out = RunOp("DynamicQuantizeLinear", {&x});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  const float scale = (*out)[1].floats()[0];
  EXPECT_NEAR(scale, 25.5f / 255.0f, 1e-7f);
  EXPECT_THAT(U8((*out)[2]), ElementsAre(85));  // round(8.5 / 0.1)
  EXPECT_THAT(U8((*out)[0]), ElementsAre(85, 105, 55, 0, 95, 255));
  // All zeros: scale 0, everything 0, no division by zero.
  const Tensor zeros = Tensor::Float({3}, {0.0f, 0.0f, 0.0f});
  out = RunOp("DynamicQuantizeLinear", {&zeros});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(U8((*out)[0]), ElementsAre(0, 0, 0));
  EXPECT_EQ((*out)[1].floats()[0], 0.0f);
}

TEST(QuantizeLinearTest, BadOperandsAreNamed) {
  const Tensor x = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor scale3 = Tensor::Float({3}, {1, 1, 1});
  absl::StatusOr<std::vector<Tensor>> out = RunOp("QuantizeLinear", {&x, &scale3}, Axis(0));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("scale has 3 values"));
  out = RunOp("QuantizeLinear", {&x, &scale3}, Axis(5));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("axis 5 is out of range"));
  const Tensor scale = Tensor::Float({}, {1.0f});
  const Tensor zp_i64 = Tensor::Int64({}, {0});
  out = RunOp("QuantizeLinear", {&x, &scale, &zp_i64});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("expected UINT8 or INT8"));
  Attributes blocked;
  blocked.Set("block_size", int64_t{2});
  out = RunOp("QuantizeLinear", {&x, &scale}, blocked);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("block_size"));
  const Tensor u = Tensor::UInt8({1}, {3});
  const Tensor zp_i8 = Tensor::Int8({}, {0});
  out = RunOp("DequantizeLinear", {&u, &scale, &zp_i8});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("zero point is INT8, x is UINT8"));
}

TEST(NarrowTypesTest, CastToAndFromUint8AndInt8) {
  const Tensor x = Tensor::Float({5}, {-3.7f, 0.0f, 1.2f, 300.0f, 127.9f});
  Attributes to_u8, to_i8, to_f, to_bool;
  to_u8.Set("to", int64_t{::onnx::TensorProto::UINT8});
  to_i8.Set("to", int64_t{::onnx::TensorProto::INT8});
  to_f.Set("to", int64_t{::onnx::TensorProto::FLOAT});
  to_bool.Set("to", int64_t{::onnx::TensorProto::BOOL});
  const Tensor u = Run1("Cast", {&x}, to_u8);
  ASSERT_EQ(u.type(), ElementType::kUInt8);
  EXPECT_THAT(U8(u), ElementsAre(0, 0, 1, 255, 127));  // saturating, truncating
  const Tensor i = Run1("Cast", {&x}, to_i8);
  ASSERT_EQ(i.type(), ElementType::kInt8);
  EXPECT_THAT(I8(i), ElementsAre(-3, 0, 1, 127, 127));
  EXPECT_THAT(F(Run1("Cast", {&i}, to_f)), ElementsAre(-3.0f, 0.0f, 1.0f, 127.0f, 127.0f));
  // UINT8 2 cast to BOOL is true (1), not 2; BOOL is not UINT8.
  const Tensor b = Run1("Cast", {&u}, to_bool);
  ASSERT_EQ(b.type(), ElementType::kBool);
  EXPECT_THAT(std::vector<int>(b.bools().begin(), b.bools().end()), ElementsAre(0, 0, 1, 1, 1));
}

TEST(NarrowTypesTest, InitializersOfUint8AndInt8LoadFromRawAndTypedData) {
  ::onnx::TensorProto raw;
  raw.set_name("r");
  raw.set_data_type(::onnx::TensorProto::INT8);
  raw.add_dims(3);
  raw.set_raw_data(std::string("\xff\x01\x80", 3));
  absl::StatusOr<Tensor> t = TensorFromProto(raw);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(I8(*t), ElementsAre(-1, 1, -128));
  ::onnx::TensorProto typed;
  typed.set_name("u");
  typed.set_data_type(::onnx::TensorProto::UINT8);
  typed.add_dims(2);
  typed.add_int32_data(7);
  typed.add_int32_data(250);
  t = TensorFromProto(typed);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->type(), ElementType::kUInt8);
  EXPECT_THAT(U8(*t), ElementsAre(7, 250));
  typed.add_int32_data(1);  // three values for two elements
  EXPECT_THAT(std::string(TensorFromProto(typed).status().message()), HasSubstr("has 3 values"));
}

}  // namespace
}  // namespace stoa::functions::onnx
