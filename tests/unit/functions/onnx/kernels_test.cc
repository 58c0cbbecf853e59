// The CPU kernels (kernels.h: every kernels_*.cc file) against
// hand-computed values, with the edge cases that break naive code: groups,
// dilations, auto_pad, ceil_mode, count_include_pad, negative axes and
// steps, broadcasting, opset-dependent forms.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"

namespace stoa::functions::onnx {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

auto Near(std::vector<float> want) { return Pointwise(FloatNear(1e-5f), want); }

absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op, const std::vector<Tensor>& inputs,
                                          Attributes attrs = {}, int64_t opset = 13,
                                          int outputs = 1) {
  static const OpRegistry* registry = new OpRegistry(DefaultOpRegistry());
  const OpKernel* kernel = registry->Find(op);
  if (kernel == nullptr) return absl::NotFoundError(op);
  Node node;
  node.name = "t";
  node.op_type = op;
  node.opset = opset;
  node.attributes = std::move(attrs);
  node.kernel = *kernel;
  for (int i = 0; i < outputs; ++i) node.outputs.push_back(100 + i);
  std::vector<const Tensor*> args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.input_names.push_back("in" + std::to_string(i));
    args.push_back(inputs[i].rank() == 1 && inputs[i].size() == 0 &&
                           inputs[i].type() == ElementType::kBool
                       ? nullptr  // an empty BOOL vector stands for an omitted input
                       : &inputs[i]);
  }
  if (kernel->validate != nullptr) {
    absl::Status valid = kernel->validate(node);
    if (!valid.ok()) return valid;
  }
  return kernel->run(node, args);
}

Tensor Run1(const std::string& op, const std::vector<Tensor>& inputs, Attributes attrs = {},
            int64_t opset = 13) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, inputs, std::move(attrs), opset);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok() || out->empty()) return Tensor();
  return (*out)[0];
}

std::string Error(const std::string& op, const std::vector<Tensor>& inputs, Attributes attrs = {},
                  int64_t opset = 13) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, inputs, std::move(attrs), opset);
  EXPECT_FALSE(out.ok());
  return out.ok() ? "" : std::string(out.status().message());
}

std::vector<float> F(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }
std::vector<int64_t> I(const Tensor& t) { return {t.int64s().begin(), t.int64s().end()}; }
std::vector<int> B(const Tensor& t) { return {t.bools().begin(), t.bools().end()}; }

Attributes Attrs(std::initializer_list<std::pair<std::string, Attributes::Value>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.Set(k, v);
  return a;
}
using Ints = std::vector<int64_t>;
const Tensor kNone = Tensor::Bool({0}, {});

const Tensor k3x3 = Tensor::Float({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
const Tensor kOnes2x2 = Tensor::Float({1, 1, 2, 2}, {1, 1, 1, 1});

const Tensor kA = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});

TEST(GemmTest, TransBAlphaBetaAndRowBias) {
  // A·Bᵀ = [[4,2],[10,5]]; ×2 = [[8,4],[20,10]]; + 0.5·[1,2].
  Tensor b = Tensor::Float({2, 3}, {1, 0, 1, 0, 1, 0});
  Tensor c = Tensor::Float({2}, {1, 2});
  Tensor y =
      Run1("Gemm", {kA, b, c}, Attrs({{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_THAT(F(y), ElementsAre(8.5f, 5.0f, 20.5f, 11.0f));
}

TEST(GemmTest, BiasBroadcastShapes) {
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 0});  // A·B = [[4,2],[10,5]]
  EXPECT_THAT(F(Run1("Gemm", {kA, b, Tensor::Float({2, 1}, {1, 2})})), ElementsAre(5, 3, 12, 7));
  EXPECT_THAT(F(Run1("Gemm", {kA, b, Tensor::Float({}, {3})})), ElementsAre(7, 5, 13, 8));
  EXPECT_THAT(F(Run1("Gemm", {kA, b, Tensor::Float({2, 2}, {1, 2, 3, 4})})),
              ElementsAre(5, 4, 13, 9));
  EXPECT_THAT(F(Run1("Gemm", {kA, b})), ElementsAre(4, 2, 10, 5));
}

TEST(GemmTest, TransA) {
  Tensor at = Tensor::Float({3, 2}, {1, 4, 2, 5, 3, 6});  // kA transposed
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 0});
  EXPECT_THAT(F(Run1("Gemm", {at, b}, Attrs({{"transA", int64_t{1}}}))), ElementsAre(4, 2, 10, 5));
}

TEST(GemmTest, Errors) {
  absl::StatusOr<std::vector<Tensor>> r = RunOp("Gemm", {kA, kA});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("inner dimensions differ"));
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 0});
  r = RunOp("Gemm", {kA, b, Tensor::Float({3}, {1, 2, 3})});
  EXPECT_THAT(r.status().message(), HasSubstr("does not broadcast"));
  r = RunOp("Gemm", {kA, b}, Attrs({{"transA", int64_t{2}}}));
  EXPECT_THAT(r.status().message(), HasSubstr("'transA' must be 0 or 1"));
  r = RunOp("Gemm", {kA, Tensor::Int64({3, 2}, {1, 0, 0, 1, 1, 0})});
  EXPECT_THAT(r.status().message(), HasSubstr("must be FP32, got INT64"));
  r = RunOp("Gemm", {Tensor::Float({6}, {1, 2, 3, 4, 5, 6}), b});
  EXPECT_THAT(r.status().message(), HasSubstr("must have rank 2"));
}

TEST(MatMulTest, BatchedWithBroadcastRhs) {
  Tensor a = Tensor::Float({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0});
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor y = Run1("MatMul", {a, b});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(F(y), ElementsAre(4, 5, 10, 11, 1, 0, 0, 1));
}

TEST(MatMulTest, BroadcastLhsAndBatchOfOne) {
  // [2,3] × [2,3,2]: the lhs is reused for each rhs matrix.
  Tensor b = Tensor::Float({2, 3, 2}, {1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0});
  Tensor y = Run1("MatMul", {kA, b});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(F(y), ElementsAre(4, 5, 10, 11, 3, 0, 6, 0));
  // [1,2,3] × [2,3,2] broadcasts the batch dimension of size 1.
  Tensor y1 = Run1("MatMul", {kA.Reshaped({1, 2, 3}), b});
  EXPECT_THAT(F(y1), ElementsAre(4, 5, 10, 11, 3, 0, 6, 0));
}

TEST(MatMulTest, VectorOperands) {
  Tensor v = Tensor::Float({3}, {1, 0, 1});
  Tensor y = Run1("MatMul", {kA, v});
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_THAT(F(y), ElementsAre(4, 10));
  Tensor w = Tensor::Float({2}, {1, 1});
  Tensor z = Run1("MatMul", {w, kA});
  EXPECT_EQ(z.shape(), (Shape{3}));
  EXPECT_THAT(F(z), ElementsAre(5, 7, 9));
  EXPECT_EQ(RunOp("MatMul", {kA, kA}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AddTest, SameShapeAndBroadcast) {
  EXPECT_THAT(F(Run1("Add", {kA, kA})), ElementsAre(2, 4, 6, 8, 10, 12));
  EXPECT_THAT(F(Run1("Add", {kA, Tensor::Float({3}, {10, 20, 30})})),
              ElementsAre(11, 22, 33, 14, 25, 36));
  Tensor col = Tensor::Float({2, 1}, {1, 2});
  Tensor row = Tensor::Float({1, 3}, {10, 20, 30});
  Tensor y = Run1("Add", {col, row});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(F(y), ElementsAre(11, 21, 31, 12, 22, 32));
  EXPECT_THAT(F(Run1("Add", {Tensor::Float({}, {1}), kA})), ElementsAre(2, 3, 4, 5, 6, 7));
  absl::StatusOr<std::vector<Tensor>> bad = RunOp("Add", {kA, Tensor::Float({2}, {1, 2})});
  EXPECT_THAT(bad.status().message(), HasSubstr("shapes [2,3] and [2] cannot be broadcast"));
}

TEST(UnaryTest, ReluSigmoidTanh) {
  Tensor x = Tensor::Float({4}, {-2, 0, 1, -1000});
  EXPECT_THAT(F(Run1("Relu", {x})), ElementsAre(0, 0, 1, 0));
  EXPECT_THAT(F(Run1("Sigmoid", {x})),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.11920292f, 0.5f, 0.73105858f, 0.0f}));
  EXPECT_THAT(
      F(Run1("Tanh", {x})),
      Pointwise(FloatNear(1e-6), std::vector<float>{-0.96402758f, 0.0f, 0.76159416f, -1.0f}));
}

TEST(SoftmaxTest, LastAxisByDefault) {
  Tensor x = Tensor::Float({1, 3}, {0, std::log(2.0f), std::log(3.0f)});
  EXPECT_THAT(F(Run1("Softmax", {x})),
              Pointwise(FloatNear(1e-6), std::vector<float>{1 / 6.0f, 2 / 6.0f, 3 / 6.0f}));
}

TEST(SoftmaxTest, AxisZeroOpset13) {
  Tensor x = Tensor::Float({2, 2}, {0, 5, std::log(3.0f), 5});
  Tensor y = Run1("Softmax", {x}, Attrs({{"axis", int64_t{0}}}));
  EXPECT_THAT(F(y), Pointwise(FloatNear(1e-6), std::vector<float>{0.25f, 0.5f, 0.75f, 0.5f}));
}

TEST(SoftmaxTest, Opset13AxisVersusOpset11Flatten) {
  const std::vector<float> v = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  Tensor x = Tensor::Float({1, 2, 2}, v);
  // Opset 13, axis 1: pairs (1,3) and (2,4) along dimension 1.
  EXPECT_THAT(F(Run1("Softmax", {x}, Attrs({{"axis", int64_t{1}}}), 13)),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.25f, 2 / 6.0f, 0.75f, 4 / 6.0f}));
  // Opset 11, default axis 1: flattened to [1,4], one softmax over all four.
  EXPECT_THAT(F(Run1("Softmax", {x}, {}, 11)),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f}));
}

TEST(SoftmaxTest, LargeValuesStayFiniteAndBadAxis) {
  Tensor y = Run1("Softmax", {Tensor::Float({1, 2}, {1000, 1000})});
  EXPECT_THAT(F(y), ElementsAre(0.5f, 0.5f));
  absl::StatusOr<std::vector<Tensor>> r = RunOp("Softmax", {kA}, Attrs({{"axis", int64_t{2}}}));
  EXPECT_THAT(r.status().message(), HasSubstr("'axis' = 2 is out of range for rank 2"));
}

TEST(FlattenTest, Axes) {
  Tensor x = Tensor::Zeros({2, 3, 4});
  EXPECT_EQ(Run1("Flatten", {x}).shape(), (Shape{2, 12}));
  EXPECT_EQ(Run1("Flatten", {x}, Attrs({{"axis", int64_t{2}}})).shape(), (Shape{6, 4}));
  EXPECT_EQ(Run1("Flatten", {x}, Attrs({{"axis", int64_t{0}}})).shape(), (Shape{1, 24}));
  EXPECT_EQ(Run1("Flatten", {x}, Attrs({{"axis", int64_t{-1}}})).shape(), (Shape{6, 4}));
  EXPECT_EQ(Run1("Flatten", {x}, Attrs({{"axis", int64_t{3}}})).shape(), (Shape{24, 1}));
  EXPECT_FALSE(RunOp("Flatten", {x}, Attrs({{"axis", int64_t{4}}})).ok());
  EXPECT_THAT(F(Run1("Flatten", {kA.Reshaped({3, 2})})), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(ReshapeTest, ZeroAndMinusOne) {
  Tensor x = Tensor::Zeros({2, 3, 4});
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({2}, {0, -1})}).shape(), (Shape{2, 12}));
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({1}, {-1})}).shape(), (Shape{24}));
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({3}, {4, 0, -1})}).shape(), (Shape{4, 3, 2}));
  EXPECT_THAT(F(Run1("Reshape", {kA, Tensor::Int64({2}, {3, 2})})), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(ReshapeTest, Errors) {
  Tensor x = Tensor::Zeros({2, 3, 4});
  auto msg = [&](std::vector<int64_t> shape) {
    const int64_t n = static_cast<int64_t>(shape.size());
    absl::StatusOr<std::vector<Tensor>> r = RunOp("Reshape", {x, Tensor::Int64({n}, shape)});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  EXPECT_THAT(msg({-1, -1}), HasSubstr("more than one -1"));
  EXPECT_THAT(msg({5, 5}), HasSubstr("cannot reshape [2,3,4]"));
  EXPECT_THAT(msg({7, -1}), HasSubstr("cannot reshape"));
  EXPECT_THAT(msg({0, 0, 0, 0}), HasSubstr("copies dimension 3"));
  EXPECT_THAT(msg({-2, 12}), HasSubstr("negative"));
  absl::StatusOr<std::vector<Tensor>> r = RunOp("Reshape", {x, Tensor::Float({1}, {24})});
  EXPECT_THAT(r.status().message(), HasSubstr("must be INT64, got FP32"));
}

TEST(IdentityTest, CopiesAnyType) {
  Tensor i = Run1("Identity", {Tensor::Int64({2}, {7, 8})});
  EXPECT_EQ(i.type(), ElementType::kInt64);
  EXPECT_THAT(std::vector<int64_t>(i.int64s().begin(), i.int64s().end()), ElementsAre(7, 8));
  EXPECT_THAT(F(Run1("Identity", {kA})), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(OpRegistryTest, HoldsTheCnnOps) {
  const OpRegistry registry = DefaultOpRegistry();
  for (const char* op : {"Conv",
                         "ConvTranspose",
                         "MaxPool",
                         "AveragePool",
                         "GlobalAveragePool",
                         "GlobalMaxPool",
                         "BatchNormalization",
                         "Gemm",
                         "MatMul",
                         "Add",
                         "Sub",
                         "Mul",
                         "Div",
                         "Pow",
                         "Sqrt",
                         "Exp",
                         "Log",
                         "Neg",
                         "Abs",
                         "Relu",
                         "LeakyRelu",
                         "PRelu",
                         "Sigmoid",
                         "HardSigmoid",
                         "Tanh",
                         "Clip",
                         "Softmax",
                         "LogSoftmax",
                         "Concat",
                         "Split",
                         "Slice",
                         "Gather",
                         "Transpose",
                         "Reshape",
                         "Flatten",
                         "Squeeze",
                         "Unsqueeze",
                         "Pad",
                         "ReduceMean",
                         "ReduceSum",
                         "ReduceMax",
                         "Shape",
                         "Constant",
                         "Cast",
                         "Identity",
                         "Dropout",
                         "Resize",
                         "Erf",
                         "Where",
                         "Equal",
                         "Less",
                         "Greater"}) {
    EXPECT_NE(registry.Find(op), nullptr) << op;
  }
  EXPECT_EQ(registry.Find("StringNormalizer"), nullptr);
}

TEST(ConvTest, ValidWindowsAndShape) {
  Tensor y = Run1("Conv", {k3x3, kOnes2x2});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_THAT(F(y), ElementsAre(12, 16, 24, 28));
}

TEST(ConvTest, PadsAndStrides) {
  Tensor y =
      Run1("Conv", {k3x3, kOnes2x2}, Attrs({{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}}));
  EXPECT_THAT(F(y), ElementsAre(1, 5, 11, 28));
}

TEST(ConvTest, Dilations) {
  Tensor y = Run1("Conv", {k3x3, kOnes2x2}, Attrs({{"dilations", Ints{2, 2}}}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 1}));
  EXPECT_THAT(F(y), ElementsAre(1 + 3 + 7 + 9));
}

TEST(ConvTest, GroupsWithBias) {
  Tensor x = Tensor::Float({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor w = Tensor::Float({2, 1, 1, 1}, {2, 10});
  Tensor b = Tensor::Float({2}, {1, -1});
  EXPECT_THAT(F(Run1("Conv", {x, w, b}, Attrs({{"group", int64_t{2}}}))),
              ElementsAre(3, 5, 29, 39));
  EXPECT_THAT(Error("Conv", {x, w}, Attrs({{"group", int64_t{3}}})),
              HasSubstr("disagree on channels"));
}

TEST(ConvTest, AutoPadSameUpperLowerAndOneD) {
  Tensor x = Tensor::Float({1, 1, 4}, {1, 2, 3, 4});
  Tensor w = Tensor::Float({1, 1, 2}, {1, 1});
  EXPECT_THAT(F(Run1("Conv", {x, w}, Attrs({{"auto_pad", std::string("SAME_UPPER")}}))),
              ElementsAre(3, 5, 7, 4));
  EXPECT_THAT(F(Run1("Conv", {x, w}, Attrs({{"auto_pad", std::string("SAME_LOWER")}}))),
              ElementsAre(1, 3, 5, 7));
  EXPECT_THAT(
      F(Run1("Conv", {x, w}, Attrs({{"auto_pad", std::string("VALID")}, {"pads", Ints{1, 1}}}))),
      ElementsAre(3, 5, 7));
  EXPECT_THAT(Error("Conv", {x, w}, Attrs({{"auto_pad", std::string("SAME")}})),
              HasSubstr("auto_pad"));
}

TEST(ConvTest, PointwiseMatchesGeneralPath) {
  Tensor x = Tensor::Float({1, 2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = Tensor::Float({1, 2, 1, 1}, {1, 10});
  EXPECT_THAT(F(Run1("Conv", {x, w})), ElementsAre(41, 52, 63));
  // The same weights through the im2col path (padding forces it).
  EXPECT_THAT(F(Run1("Conv", {x, w}, Attrs({{"pads", Ints{0, 1, 0, 0}}}))),
              ElementsAre(0, 41, 52, 63));
}

TEST(ConvTransposeTest, StridesAndOverlap) {
  Tensor x = Tensor::Float({1, 1, 2}, {1, 2});
  Tensor w = Tensor::Float({1, 1, 2}, {1, 1});
  EXPECT_THAT(F(Run1("ConvTranspose", {x, w}, Attrs({{"strides", Ints{2}}}))),
              ElementsAre(1, 1, 2, 2));
  EXPECT_THAT(F(Run1("ConvTranspose", {x, w})), ElementsAre(1, 3, 2));
  EXPECT_THAT(F(Run1("ConvTranspose", {x, w}, Attrs({{"pads", Ints{1, 0}}}))), ElementsAre(3, 2));
}

TEST(PoolTest, MaxPoolCeilModeAndIndices) {
  Tensor x = Tensor::Float({1, 1, 5}, {1, 5, 2, 4, 3});
  Attributes floor_attrs = Attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{2}}});
  EXPECT_THAT(F(Run1("MaxPool", {x}, floor_attrs)), ElementsAre(5, 4));
  Attributes ceil_attrs = floor_attrs;
  ceil_attrs.Set("ceil_mode", int64_t{1});
  absl::StatusOr<std::vector<Tensor>> out = RunOp("MaxPool", {x}, ceil_attrs, 13, /*outputs=*/2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(F((*out)[0]), ElementsAre(5, 4, 3));
  EXPECT_THAT(I((*out)[1]), ElementsAre(1, 3, 4));
}

TEST(PoolTest, MaxPool2x2Stride2FastPathAndCeilFallback) {
  std::vector<float> v(25);
  for (int i = 0; i < 25; ++i) v[i] = static_cast<float>((i * 7) % 25);  // a permutation of 0..24
  Tensor x = Tensor::Float({1, 1, 5, 5}, v);
  // rows: [0 7 14 21 3] [10 17 24 6 13] [20 2 9 16 23] [5 12 19 1 8] [15 22 4 11 18]
  Attributes a = Attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  EXPECT_THAT(F(Run1("MaxPool", {x}, a)), ElementsAre(17, 24, 20, 19));
  a.Set("ceil_mode", int64_t{1});
  EXPECT_THAT(F(Run1("MaxPool", {x}, a)), ElementsAre(17, 24, 13, 20, 19, 23, 22, 11, 18));
}

TEST(PoolTest, MaxPool1x2AlongTheLastAxisFastPath) {
  std::vector<float> v(25);
  for (int i = 0; i < 25; ++i) v[i] = static_cast<float>((i * 7) % 25);
  Tensor x = Tensor::Float({1, 1, 5, 5}, v);  // rows as above; the odd last column is dropped
  Attributes a = Attrs({{"kernel_shape", Ints{1, 2}}, {"strides", Ints{1, 2}}});
  Tensor y = Run1("MaxPool", {x}, a);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 5, 2}));
  EXPECT_THAT(F(y), ElementsAre(7, 21, 17, 24, 20, 16, 12, 19, 22, 11));
}

TEST(PoolTest, MaxPoolDilations) {
  Tensor x = Tensor::Float({1, 1, 5}, {9, 1, 2, 8, 3});
  EXPECT_THAT(F(Run1("MaxPool", {x}, Attrs({{"kernel_shape", Ints{2}}, {"dilations", Ints{3}}}))),
              ElementsAre(9, 3));
}

TEST(PoolTest, AveragePoolCountIncludePad) {
  Tensor x = Tensor::Float({1, 1, 3}, {1, 2, 3});
  Attributes a = Attrs({{"kernel_shape", Ints{2}}, {"pads", Ints{1, 1}}});
  EXPECT_THAT(F(Run1("AveragePool", {x}, a)), ElementsAre(1, 1.5, 2.5, 3));
  a.Set("count_include_pad", int64_t{1});
  EXPECT_THAT(F(Run1("AveragePool", {x}, a)), ElementsAre(0.5, 1.5, 2.5, 1.5));
  EXPECT_THAT(Error("AveragePool", {x}), HasSubstr("kernel_shape"));
}

TEST(PoolTest, GlobalPoolsAndBatchNorm) {
  Tensor x = Tensor::Float({1, 2, 2}, {1, 3, -2, 6});
  EXPECT_THAT(F(Run1("GlobalAveragePool", {x})), ElementsAre(2, 2));
  EXPECT_EQ(Run1("GlobalMaxPool", {x}).shape(), (Shape{1, 2, 1}));
  EXPECT_THAT(F(Run1("GlobalMaxPool", {x})), ElementsAre(3, 6));
  Tensor bx = Tensor::Float({1, 2, 1}, {1, 2});
  Tensor scale = Tensor::Float({2}, {2, 1}), bias = Tensor::Float({2}, {0, 1});
  Tensor mean = Tensor::Float({2}, {1, 0}), var = Tensor::Float({2}, {3, 0});
  EXPECT_THAT(
      F(Run1("BatchNormalization", {bx, scale, bias, mean, var}, Attrs({{"epsilon", 1.0f}}))),
      ElementsAre(0, 3));
}

TEST(ElementwiseTest, BroadcastArithmeticAndIntegers) {
  Tensor a = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(F(Run1("Sub", {a, Tensor::Float({3}, {1, 1, 2})})), ElementsAre(0, 1, 1, 3, 4, 4));
  EXPECT_THAT(F(Run1("Div", {a, Tensor::Float({2, 1}, {1, 2})})), ElementsAre(1, 2, 3, 2, 2.5, 3));
  EXPECT_THAT(I(Run1("Mul", {Tensor::Int64({2}, {3, -4}), Tensor::Int64({}, {2})})),
              ElementsAre(6, -8));
  EXPECT_THAT(F(Run1("Pow", {Tensor::Float({2}, {2, 3}), Tensor::Int64({}, {2})})),
              ElementsAre(4, 9));
  EXPECT_THAT(Error("Add", {a, Tensor::Float({2}, {1, 2})}), HasSubstr("cannot be broadcast"));
  EXPECT_THAT(Error("Add", {a, Tensor::Int64({1}, {1})}), HasSubstr("differ in type"));
}

TEST(ElementwiseTest, ComparisonsAndWhere) {
  Tensor a = Tensor::Float({3}, {1, 2, 3});
  Tensor two = Tensor::Float({}, {2});
  EXPECT_THAT(B(Run1("Less", {a, two})), ElementsAre(1, 0, 0));
  EXPECT_THAT(B(Run1("Greater", {a, two})), ElementsAre(0, 0, 1));
  Tensor eq = Run1("Equal", {a, two});
  EXPECT_EQ(eq.type(), ElementType::kBool);
  EXPECT_THAT(F(Run1("Where", {eq, Tensor::Float({}, {-1}), a})), ElementsAre(1, -1, 3));
}

TEST(ElementwiseTest, ActivationsAndClipForms) {
  Tensor x = Tensor::Float({4}, {-2, -0.5, 0.5, 4});
  EXPECT_THAT(F(Run1("LeakyRelu", {x}, Attrs({{"alpha", 0.5f}}))), ElementsAre(-1, -0.25, 0.5, 4));
  EXPECT_THAT(F(Run1("HardSigmoid", {x})), Near({0.1f, 0.4f, 0.6f, 1}));
  EXPECT_THAT(F(Run1("PRelu", {x, Tensor::Float({1}, {0.1f})})), Near({-0.2f, -0.05f, 0.5, 4}));
  EXPECT_THAT(F(Run1("Clip", {x}, Attrs({{"min", -1.0f}, {"max", 1.0f}}), 6)),
              ElementsAre(-1, -0.5, 0.5, 1));
  EXPECT_THAT(F(Run1("Clip", {x, Tensor::Float({}, {0})})), ElementsAre(0, 0, 0.5, 4));
  EXPECT_THAT(F(Run1("Clip", {x, kNone, Tensor::Float({}, {1})})), ElementsAre(-2, -0.5, 0.5, 1));
  EXPECT_THAT(F(Run1("Neg", {x})), ElementsAre(2, 0.5, -0.5, -4));
  EXPECT_THAT(F(Run1("Elu", {x}, Attrs({{"alpha", 2.0f}}))),
              Near({2 * (std::exp(-2.0f) - 1), 2 * (std::exp(-0.5f) - 1), 0.5, 4}));
  // Softplus stays finite where exp(x) overflows.
  EXPECT_THAT(F(Run1("Softplus", {Tensor::Float({2}, {0, 100})})), Near({std::log(2.0f), 100}));
}

TEST(ElementwiseTest, DropoutIsIdentityUnlessTrainingForReal) {
  Tensor x = Tensor::Float({2}, {1, -2});
  absl::StatusOr<std::vector<Tensor>> out = RunOp("Dropout", {x}, {}, 13, /*outputs=*/2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(F((*out)[0]), ElementsAre(1, -2));
  EXPECT_THAT(B((*out)[1]), ElementsAre(1, 1));
  const Tensor yes = Tensor::Bool({}, {1});
  EXPECT_TRUE(RunOp("Dropout", {x, Tensor::Float({}, {0}), yes}).ok());
  EXPECT_THAT(Error("Dropout", {x, Tensor::Float({}, {0.5f}), yes}), HasSubstr("non-zero ratio"));
}

TEST(ElementwiseTest, CastTruncatesAndMakesBools) {
  Tensor x = Tensor::Float({3}, {-1.7f, 0, 2.9f});
  EXPECT_THAT(I(Run1("Cast", {x}, Attrs({{"to", int64_t{7}}}))), ElementsAre(-1, 0, 2));
  EXPECT_THAT(B(Run1("Cast", {x}, Attrs({{"to", int64_t{9}}}))), ElementsAre(1, 0, 1));
  EXPECT_THAT(Error("Cast", {x}, Attrs({{"to", int64_t{10}}})), HasSubstr("FLOAT16"));
}

TEST(MovementTest, TransposeConcatSplit) {
  Tensor a = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(F(Run1("Transpose", {a})), ElementsAre(1, 4, 2, 5, 3, 6));
  Tensor c = Run1("Concat", {a, Tensor::Float({2, 1}, {7, 8})}, Attrs({{"axis", int64_t{-1}}}));
  EXPECT_EQ(c.shape(), (Shape{2, 4}));
  EXPECT_THAT(F(c), ElementsAre(1, 2, 3, 7, 4, 5, 6, 8));
  absl::StatusOr<std::vector<Tensor>> parts =
      RunOp("Split", {a, Tensor::Int64({2}, {1, 2})}, Attrs({{"axis", int64_t{1}}}), 13, 2);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(F((*parts)[0]), ElementsAre(1, 4));
  EXPECT_THAT(F((*parts)[1]), ElementsAre(2, 3, 5, 6));
  EXPECT_FALSE(
      RunOp("Split", {a, Tensor::Int64({2}, {4, -1})}, Attrs({{"axis", int64_t{1}}}), 13, 2).ok());
  parts = RunOp("Split", {a}, Attrs({{"axis", int64_t{0}}}), 11, 2);  // equal parts
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(F((*parts)[1]), ElementsAre(4, 5, 6));
}

TEST(MovementTest, SliceNegativeStepsAndAttributeForm) {
  std::vector<float> v(10);
  for (int i = 0; i < 10; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::Float({10}, v);
  EXPECT_THAT(F(Run1("Slice", {x, Tensor::Int64({1}, {8}), Tensor::Int64({1}, {1}),
                               Tensor::Int64({1}, {0}), Tensor::Int64({1}, {-3})})),
              ElementsAre(8, 5, 2));
  EXPECT_THAT(F(Run1("Slice", {x, Tensor::Int64({1}, {-1}),
                               Tensor::Int64({1}, {std::numeric_limits<int64_t>::min()}),
                               Tensor::Int64({1}, {0}), Tensor::Int64({1}, {-4})})),
              ElementsAre(9, 5, 1));
  EXPECT_THAT(F(Run1("Slice", {x}, Attrs({{"starts", Ints{-3}}, {"ends", Ints{1000}}}), 9)),
              ElementsAre(7, 8, 9));
}

TEST(MovementTest, GatherNegativeIndicesAndPadModes) {
  Tensor a = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor g = Run1("Gather", {a, Tensor::Int64({2}, {-1, 0})}, Attrs({{"axis", int64_t{1}}}));
  EXPECT_EQ(g.shape(), (Shape{2, 2}));
  EXPECT_THAT(F(g), ElementsAre(3, 1, 6, 4));
  EXPECT_THAT(Error("Gather", {a, Tensor::Int64({1}, {2})}), HasSubstr("out of range"));
  Tensor x = Tensor::Float({3}, {1, 2, 3});
  Tensor pads = Tensor::Int64({2}, {2, 1});
  EXPECT_THAT(F(Run1("Pad", {x, pads, Tensor::Float({}, {9})})), ElementsAre(9, 9, 1, 2, 3, 9));
  EXPECT_THAT(F(Run1("Pad", {x, pads}, Attrs({{"mode", std::string("reflect")}}))),
              ElementsAre(3, 2, 1, 2, 3, 2));
  EXPECT_THAT(F(Run1("Pad", {x, pads}, Attrs({{"mode", std::string("edge")}}))),
              ElementsAre(1, 1, 1, 2, 3, 3));
  EXPECT_THAT(F(Run1("Pad", {x}, Attrs({{"pads", Ints{1, 0}}, {"value", 7.0f}}), 2)),
              ElementsAre(7, 1, 2, 3));
}

TEST(ShapeOpsTest, SqueezeUnsqueezeShapeConstant) {
  Tensor x = Tensor::Float({1, 3, 1}, {1, 2, 3});
  EXPECT_EQ(Run1("Squeeze", {x, Tensor::Int64({1}, {-1})}).shape(), (Shape{1, 3}));
  EXPECT_EQ(Run1("Squeeze", {x}, Attrs({{"axes", Ints{0}}}), 11).shape(), (Shape{3, 1}));
  EXPECT_EQ(Run1("Unsqueeze", {x, Tensor::Int64({2}, {-1, 0})}).shape(), (Shape{1, 1, 3, 1, 1}));
  EXPECT_THAT(Error("Squeeze", {x, Tensor::Int64({1}, {1})}), HasSubstr("not 1"));
  EXPECT_THAT(I(Run1("Shape", {x}, Attrs({{"start", int64_t{-2}}}), 15)), ElementsAre(3, 1));
  EXPECT_THAT(F(Run1("Constant", {}, Attrs({{"value_floats", std::vector<float>{1, 2}}}))),
              ElementsAre(1, 2));
  EXPECT_THAT(I(Run1("Constant", {}, Attrs({{"value_int", int64_t{5}}}))), ElementsAre(5));
}

TEST(ReduceTest, AxesKeepdimsAndNoop) {
  Tensor a = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor m = Run1("ReduceMean", {a}, Attrs({{"axes", Ints{-1}}, {"keepdims", int64_t{0}}}));
  EXPECT_EQ(m.shape(), (Shape{2}));
  EXPECT_THAT(F(m), ElementsAre(2, 5));
  EXPECT_THAT(F(Run1("ReduceMax", {a}, Attrs({{"axes", Ints{0}}}))), ElementsAre(4, 5, 6));
  Tensor s = Run1("ReduceSum", {a});
  EXPECT_EQ(s.shape(), (Shape{1, 1}));
  EXPECT_THAT(F(s), ElementsAre(21));
  EXPECT_THAT(F(Run1("ReduceSum", {a, Tensor::Int64({1}, {1})})), ElementsAre(6, 15));
  EXPECT_EQ(
      Run1("ReduceSum", {a, Tensor::Int64({0}, {})}, Attrs({{"noop_with_empty_axes", int64_t{1}}}))
          .shape(),
      (Shape{2, 3}));
}

TEST(ResizeTest, NearestAndLinearModes) {
  Tensor x = Tensor::Float({1, 2}, {1, 3});
  Tensor scales = Tensor::Float({2}, {1, 2});
  Tensor y = Run1("Resize", {x, kNone, scales},
                  Attrs({{"coordinate_transformation_mode", std::string("asymmetric")},
                         {"nearest_mode", std::string("floor")}}));
  EXPECT_THAT(F(y), ElementsAre(1, 1, 3, 3));
  EXPECT_THAT(F(Run1("Resize", {x, kNone, scales}, Attrs({{"mode", std::string("linear")}}))),
              ElementsAre(1, 1.5, 2.5, 3));
  EXPECT_THAT(F(Run1("Resize", {x, kNone, scales},
                     Attrs({{"mode", std::string("linear")},
                            {"coordinate_transformation_mode", std::string("align_corners")}}))),
              Near({1, 1 + 2.0f / 3, 1 + 4.0f / 3, 3}));
  EXPECT_THAT(Error("Resize", {x, kNone, scales}, Attrs({{"mode", std::string("area")}})),
              HasSubstr("'area' is not supported"));
  EXPECT_THAT(
      Error("Resize", {Tensor::Float({1, 0}, {}), kNone, kNone, Tensor::Int64({2}, {1, 2})}),
      HasSubstr("empty dimension 1"));
}

TEST(SoftmaxTest, LogSoftmax) {
  Tensor y = Run1("LogSoftmax", {Tensor::Float({2}, {0, 0})});
  EXPECT_NEAR(y.floats()[0], -std::log(2.0f), 1e-6);
}

}  // namespace
}  // namespace stoa::functions::onnx
