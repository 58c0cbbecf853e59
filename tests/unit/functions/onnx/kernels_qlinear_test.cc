// The integer kernels (kernels_qlinear.cc, kernels_qconv.cc): MatMulInteger,
// QLinearMatMul, ConvInteger, QLinearConv against hand-computed values and,
// where the FP32 accumulation has to be split to stay exact, against a plain
// int64 loop; 8-bit MaxPool / Clip / Relu (narrow_int.h); and the errors a
// malformed quantized model gets at load (quant_validate.h,
// tensor_proto.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/status_macros.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/tensor_proto.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions::onnx {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

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
  node.outputs.push_back(100);
  for (size_t i = 0; i < args.size(); ++i) node.input_names.push_back("in" + std::to_string(i));
  if (kernel->validate != nullptr) RETURN_IF_ERROR(kernel->validate(node));
  return kernel->run(node, args);
}

Tensor Run1(const std::string& op, const std::vector<const Tensor*>& args, Attributes attrs = {}) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, args, std::move(attrs));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() && !out->empty() ? (*out)[0] : Tensor();
}

std::string Error(const std::string& op, const std::vector<const Tensor*>& args) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, args);
  return out.ok() ? "ok" : std::string(out.status().message());
}

std::vector<int> U8(const Tensor& t) { return {t.uint8s().begin(), t.uint8s().end()}; }
std::vector<int> I8(const Tensor& t) { return {t.int8s().begin(), t.int8s().end()}; }
std::vector<int64_t> I32(const Tensor& t) { return {t.int32s().begin(), t.int32s().end()}; }

TEST(MatMulIntegerTest, PerRowAndPerColumnZeroPoints) {
  // A - a_zp = [[0,1,2],[0,1,3]]; B - b_zp: columns [2,2,-3] and [-2,-1,4].
  const Tensor a = Tensor::UInt8({2, 3}, {1, 2, 3, 4, 5, 7});
  const Tensor b = Tensor::Int8({3, 2}, {2, -1, 2, 0, -3, 5});
  const Tensor a_zp = Tensor::UInt8({2}, {1, 4});
  const Tensor b_zp = Tensor::Int8({2}, {0, 1});
  const Tensor y = Run1("MatMulInteger", {&a, &b, &a_zp, &b_zp});
  ASSERT_EQ(y.type(), ElementType::kInt32);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_THAT(I32(y), ElementsAre(-4, 7, -7, 11));
  // Without zero points: plain products; batch dimensions broadcast.
  const Tensor a3 = Tensor::UInt8({2, 1, 3}, {1, 2, 3, 4, 5, 7});
  const Tensor y3 = Run1("MatMulInteger", {&a3, &b});
  EXPECT_EQ(y3.shape(), (Shape{2, 1, 2}));
  EXPECT_THAT(I32(y3), ElementsAre(2 + 4 - 9, -1 + 0 + 15, 8 + 10 - 21, -4 + 0 + 35));
}

TEST(MatMulIntegerTest, LongReductionsStayExactPastFloatPrecision) {
  // 2000 x 255 x 255 = 130,050,000 needs 27 bits: one FP32 sum would round.
  const int64_t k = 2000;
  const Tensor a = Tensor::UInt8({1, k}, std::vector<uint8_t>(k, 255));
  const Tensor b = Tensor::UInt8({k, 1}, std::vector<uint8_t>(k, 255));
  EXPECT_THAT(I32(Run1("MatMulInteger", {&a, &b})), ElementsAre(130050000));
  // Mixed values against an int64 loop.
  std::vector<uint8_t> av(3 * k), bv(k * 2);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<uint8_t>(255 - (i * 7) % 64);
  const Tensor a2 = Tensor::UInt8({3, k}, av), b2 = Tensor::UInt8({k, 2}, bv);
  const Tensor zp = Tensor::UInt8({}, {3});
  std::vector<int64_t> want;
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 2; ++c) {
      int64_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += (av[r * k + i] - 3) * bv[i * 2 + c];
      want.push_back(sum);
    }
  }
  EXPECT_THAT(I32(Run1("MatMulInteger", {&a2, &b2, &zp})), ElementsAreArray(want));
}

TEST(QLinearMatMulTest, RequantizesHalfToEvenAndSaturates) {
  // a' = [0, 10]; b' columns [2, 4] and [254, 254]; acc = [40, 2540].
  // Column 0: 40 * 0.5 * 0.25 / 2 = 2.5 -> 2 (half to even) + 100 = 102.
  // Column 1: 2540 * 0.0625 = 158.75 -> 159 + 100 = 259 -> 255.
  const Tensor a = Tensor::UInt8({1, 2}, {10, 20});
  const Tensor a_scale = Tensor::Float({}, {0.5f});
  const Tensor a_zp = Tensor::UInt8({}, {10});
  const Tensor b = Tensor::UInt8({2, 2}, {3, 255, 5, 255});
  const Tensor b_scale = Tensor::Float({}, {0.25f});
  const Tensor b_zp = Tensor::UInt8({}, {1});
  const Tensor y_scale = Tensor::Float({}, {2.0f});
  const Tensor y_zp = Tensor::UInt8({}, {100});
  const Tensor y =
      Run1("QLinearMatMul", {&a, &a_scale, &a_zp, &b, &b_scale, &b_zp, &y_scale, &y_zp});
  ASSERT_EQ(y.type(), ElementType::kUInt8);
  EXPECT_THAT(U8(y), ElementsAre(102, 255));
  // An INT8 output zero point gives INT8 (255 saturates at 127); per-column
  // b scale halves column 1: 2540 * 0.5 * 0.125 / 2 = 79.375 -> 79 - 10.
  const Tensor b_scale2 = Tensor::Float({2}, {0.25f, 0.125f});
  const Tensor b_zp2 = Tensor::UInt8({2}, {1, 1});
  const Tensor y_zp8 = Tensor::Int8({}, {-10});
  const Tensor y8 =
      Run1("QLinearMatMul", {&a, &a_scale, &a_zp, &b, &b_scale2, &b_zp2, &y_scale, &y_zp8});
  ASSERT_EQ(y8.type(), ElementType::kInt8);
  EXPECT_THAT(I8(y8), ElementsAre(2 - 10, 79 - 10));
}

TEST(ConvIntegerTest, ZeroPointsPaddingAndPerMapWeights) {
  const Tensor x = Tensor::UInt8({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor x_zp = Tensor::UInt8({}, {1});  // x' = 0..8
  // Map 0: ones, zero point 0; map 1: threes, zero point 2 (also ones).
  const Tensor w = Tensor::Int8({2, 1, 2, 2}, {1, 1, 1, 1, 3, 3, 3, 3});
  const Tensor w_zp = Tensor::Int8({2}, {0, 2});
  const Tensor y = Run1("ConvInteger", {&x, &w, &x_zp, &w_zp});
  ASSERT_EQ(y.type(), ElementType::kInt32);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_THAT(I32(y), ElementsAre(8, 12, 20, 24, 8, 12, 20, 24));
  // Padding holds x's zero point: 0 after the shift.
  Attributes pads;
  pads.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  const Tensor w1 = Tensor::UInt8({1, 1, 2, 2}, {1, 1, 1, 1});
  const Tensor yp = Run1("ConvInteger", {&x, &w1, &x_zp}, pads);
  EXPECT_EQ(yp.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_THAT(I32(yp), ElementsAre(0, 1, 3, 2, 3, 8, 12, 7, 9, 20, 24, 13, 6, 13, 15, 8));
}

// Plain int64 convolution of x [1, C, H, W] and w [M, C/group, 3, 3],
// stride 1, pads 1.
std::vector<int64_t> ReferenceConv(const std::vector<uint8_t>& x, const std::vector<int8_t>& w,
                                   int64_t c, int64_t h, int64_t wd, int64_t m, int64_t group) {
  const int64_t cg = c / group, mg = m / group;
  std::vector<int64_t> y;
  for (int64_t o = 0; o < m; ++o) {
    const int64_t g = o / mg;
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < wd; ++j) {
        int64_t sum = 0;
        for (int64_t ci = 0; ci < cg; ++ci) {
          for (int64_t ki = 0; ki < 3; ++ki) {
            for (int64_t kj = 0; kj < 3; ++kj) {
              const int64_t ii = i + ki - 1, jj = j + kj - 1;
              if (ii < 0 || ii >= h || jj < 0 || jj >= wd) continue;
              sum += x[((g * cg + ci) * h + ii) * wd + jj] * w[((o * cg + ci) * 3 + ki) * 3 + kj];
            }
          }
        }
        y.push_back(sum);
      }
    }
  }
  return y;
}

TEST(ConvIntegerTest, WideChannelsSplitIntoExactChunks) {
  // 200 channels x 9 taps x up to 255 x 128 passes 2^24: the channels are
  // split; with groups too.
  std::mt19937 rng(7);
  for (int64_t group : {1, 2}) {
    const int64_t c = 200, h = 5, wd = 4, m = 4;
    std::vector<uint8_t> xv(c * h * wd);
    std::vector<int8_t> wv(m * (c / group) * 9);
    for (auto& v : xv) v = static_cast<uint8_t>(rng() % 256);
    for (auto& v : wv) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    wv[0] = -128;
    const Tensor x = Tensor::UInt8({1, c, h, wd}, xv);
    const Tensor w = Tensor::Int8({m, c / group, 3, 3}, wv);
    Attributes attrs;
    attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
    attrs.Set("group", group);
    const Tensor y = Run1("ConvInteger", {&x, &w}, attrs);
    EXPECT_THAT(I32(y), ElementsAreArray(ReferenceConv(xv, wv, c, h, wd, m, group)))
        << "group " << group;
  }
  // All at the extremes: 300 x 255 x 255 = 19,507,500.
  const Tensor x = Tensor::UInt8({1, 300, 1, 1}, std::vector<uint8_t>(300, 255));
  const Tensor w = Tensor::UInt8({1, 300, 1, 1}, std::vector<uint8_t>(300, 255));
  EXPECT_THAT(I32(Run1("ConvInteger", {&x, &w})), ElementsAre(19507500));
}

TEST(QLinearConvTest, BiasPerChannelScalesAndSaturation) {
  // x' = [0, 10, 20, 30]; map 0: 2x' + 1, times 0.125; map 1: -3x' - 4,
  // times 0.5; then + 5, saturated to UINT8.
  const Tensor x = Tensor::UInt8({1, 1, 2, 2}, {10, 20, 30, 40});
  const Tensor x_scale = Tensor::Float({}, {0.5f});
  const Tensor x_zp = Tensor::UInt8({}, {10});
  const Tensor w = Tensor::Int8({2, 1, 1, 1}, {2, -3});
  const Tensor w_scale = Tensor::Float({2}, {0.25f, 1.0f});
  const Tensor w_zp = Tensor::Int8({2}, {0, 0});
  const Tensor y_scale = Tensor::Float({}, {1.0f});
  const Tensor y_zp = Tensor::UInt8({}, {5});
  const Tensor bias = Tensor::Int32({2}, {1, -4});
  const Tensor y =
      Run1("QLinearConv", {&x, &x_scale, &x_zp, &w, &w_scale, &w_zp, &y_scale, &y_zp, &bias});
  ASSERT_EQ(y.type(), ElementType::kUInt8);
  // acc0 = [1, 21, 41, 61] * 0.125 = [0.125, 2.625, 5.125, 7.625] -> [0, 3, 5, 8];
  // acc1 = [-4, -34, -64, -94] * 0.5 -> [-2, -17, -32, -47].
  EXPECT_THAT(U8(y), ElementsAre(5, 8, 10, 13, 3, 0, 0, 0));
}

TEST(QLinearConvTest, BadParametersAreNamed) {
  const Tensor x = Tensor::UInt8({1, 1, 2, 2}, {10, 20, 30, 40});
  const Tensor one = Tensor::Float({}, {1.0f});
  const Tensor zero = Tensor::Float({}, {0.0f});
  const Tensor x_zp = Tensor::UInt8({}, {0});
  const Tensor w = Tensor::Int8({2, 1, 1, 1}, {2, -3});
  const Tensor w_zp_u8 = Tensor::UInt8({}, {0});
  const Tensor w_zp = Tensor::Int8({}, {0});
  const Tensor three = Tensor::Float({3}, {1, 1, 1});
  const Tensor y_zp = Tensor::UInt8({}, {0});
  const Tensor bias64 = Tensor::Int64({2}, {0, 0});
  EXPECT_THAT(Error("QLinearConv", {&x, &one, &x_zp, &w, &one, &w_zp_u8, &one, &y_zp}),
              HasSubstr("zero point 'in5' is UINT8; its data is INT8"));
  EXPECT_THAT(Error("QLinearConv", {&x, &one, &x_zp, &w, &one, &w_zp, &zero, &y_zp}),
              HasSubstr("scale 'in6' holds 0; scales must be finite and > 0"));
  EXPECT_THAT(Error("QLinearConv", {&x, &one, &x_zp, &w, &three, &w_zp, &one, &y_zp}),
              HasSubstr("input 'in4' has 3 values; expected 1 or 2"));
  EXPECT_THAT(Error("QLinearConv", {&x, &x_zp, &x_zp, &w, &one, &w_zp, &one, &y_zp}),
              HasSubstr("scale 'in1' is UINT8; expected FP32"));
  EXPECT_THAT(Error("QLinearConv", {&x, &one, &x_zp, &w, &one, &w_zp, &one, &y_zp, &bias64}),
              HasSubstr("bias B is INT64 [2]; expected INT32 with 2 values"));
  EXPECT_THAT(Error("ConvInteger", {&one, &w}), HasSubstr("input 'in0' is FP32"));
}

TEST(NarrowIntOpsTest, MaxPoolClipAndReluOnEightBits) {
  Attributes k;
  k.Set("kernel_shape", std::vector<int64_t>{2, 2});
  const Tensor x = Tensor::UInt8({1, 1, 2, 2}, {1, 200, 3, 4});
  const Tensor p = Run1("MaxPool", {&x}, k);
  ASSERT_EQ(p.type(), ElementType::kUInt8);
  EXPECT_THAT(U8(p), ElementsAre(200));
  const Tensor v = Tensor::Int8({4}, {-100, -1, 0, 100});
  const Tensor lo = Tensor::Int8({}, {-5}), hi = Tensor::Int8({}, {5});
  const Tensor c = Run1("Clip", {&v, &lo, &hi});
  ASSERT_EQ(c.type(), ElementType::kInt8);
  EXPECT_THAT(I8(c), ElementsAre(-5, -1, 0, 5));
  const Tensor r = Run1("Relu", {&v});
  ASSERT_EQ(r.type(), ElementType::kInt8);
  EXPECT_THAT(I8(r), ElementsAre(0, 0, 0, 100));
}

// A one-node QLinearConv model whose parameters are initializers.
::onnx::ModelProto QConvModel(::onnx::TensorProto w_zp, ::onnx::TensorProto w_scale) {
  using testing::FloatInit;
  using testing::MakeModel;
  using testing::MakeNode;
  using testing::ValueInfo;
  auto u8 = [](const std::string& name, std::vector<int64_t> dims, std::vector<int32_t> v,
               int32_t type = ::onnx::TensorProto::UINT8) {
    ::onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(type);
    for (int64_t d : dims) t.add_dims(d);
    for (int32_t x : v) t.add_int32_data(x);
    return t;
  };
  return MakeModel(
      {MakeNode("QLinearConv", "qc",
                {"x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp"}, {"y"})},
      {ValueInfo("x", {1, 1, 2, 2}, ::onnx::TensorProto::UINT8)},
      {ValueInfo("y", {1, 2, 2, 2}, ::onnx::TensorProto::UINT8)},
      {FloatInit("x_scale", {}, {0.5f}), u8("x_zp", {}, {0}),
       u8("w", {2, 1, 1, 1}, {1, -1}, ::onnx::TensorProto::INT8), std::move(w_scale),
       std::move(w_zp), FloatInit("y_scale", {}, {1.0f}), u8("y_zp", {}, {0})},
      13);
}

std::string LoadError(const ::onnx::ModelProto& m) {
  absl::StatusOr<Graph> g = BuildGraph(m, DefaultOpRegistry());
  return g.ok() ? "ok" : std::string(g.status().message());
}

::onnx::TensorProto NarrowInit(const std::string& name, int32_t type, std::vector<int32_t> v) {
  ::onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  t.add_dims(static_cast<int64_t>(v.size()));
  for (int32_t x : v) t.add_int32_data(x);
  return t;
}

TEST(QuantizedModelLoadTest, MalformedParametersAreRefusedAtLoadNamingTheNode) {
  using testing::FloatInit;
  const auto kInt8 = ::onnx::TensorProto::INT8, kUInt8 = ::onnx::TensorProto::UINT8;
  EXPECT_EQ(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0, 0}),
                                 FloatInit("w_scale", {2}, {0.1f, 0.2f}))),
            "ok");
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kUInt8, {0, 0}),
                                   FloatInit("w_scale", {2}, {0.1f, 0.2f}))),
              HasSubstr("node 'qc' (#0, QLinearConv): zero point 'w_zp' is UINT8; its data "
                        "'w' is INT8"));
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0, 0, 0}),
                                   FloatInit("w_scale", {3}, {0.1f, 0.2f, 0.3f}))),
              HasSubstr("node 'qc' (#0, QLinearConv): scale 'w_scale' has 3 values; expected 1 "
                        "or 2 (one per channel)"));
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0}),
                                   FloatInit("w_scale", {2}, {0.1f, 0.2f}))),
              HasSubstr("zero point 'w_zp' has 1 values, its scale 'w_scale' has 2"));
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0, 0}),
                                   NarrowInit("w_scale", kUInt8, {1, 1}))),
              HasSubstr("scale 'w_scale' is UINT8; scales must be FP32"));
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0, 0}),
                                   FloatInit("w_scale", {2}, {0.1f, -0.2f}))),
              HasSubstr("scale 'w_scale' holds -0.2; scales must be finite and > 0"));
  EXPECT_THAT(LoadError(QConvModel(NarrowInit("w_zp", kInt8, {0, 300}),
                                   FloatInit("w_scale", {2}, {0.1f, 0.2f}))),
              HasSubstr("tensor 'w_zp': value 300 is out of range for INT8"));
}

}  // namespace
}  // namespace stoa::functions::onnx
