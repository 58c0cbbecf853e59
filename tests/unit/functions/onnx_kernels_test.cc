// The CPU kernels against hand-computed values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "functions/onnx/kernel_util.h"
#include "functions/onnx/op_registry.h"

namespace stoa::functions::onnx {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op, const std::vector<Tensor>& inputs,
                                          Attributes attrs = {}, int64_t opset = 13) {
  static const OpRegistry* registry = new OpRegistry(DefaultOpRegistry());
  const OpKernel* kernel = registry->Find(op);
  if (kernel == nullptr) return absl::NotFoundError(op);
  Node node;
  node.name = "t";
  node.op_type = op;
  node.opset = opset;
  node.attributes = std::move(attrs);
  node.kernel = *kernel;
  std::vector<const Tensor*> args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.input_names.push_back("in" + std::to_string(i));
    args.push_back(&inputs[i]);
  }
  if (kernel->validate != nullptr) {
    absl::Status valid = kernel->validate(node);
    if (!valid.ok()) return valid;
  }
  return kernel->run(node, args);
}

// Runs an op with one output and returns it; fails the test on error.
Tensor Run1(const std::string& op, const std::vector<Tensor>& inputs, Attributes attrs = {},
            int64_t opset = 13) {
  absl::StatusOr<std::vector<Tensor>> out = RunOp(op, inputs, std::move(attrs), opset);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok() || out->empty()) return Tensor();
  return (*out)[0];
}

std::vector<float> Values(const Tensor& t) { return {t.floats().begin(), t.floats().end()}; }

Attributes Attrs(std::initializer_list<std::pair<std::string, Attributes::Value>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.Set(k, v);
  return a;
}

const Tensor kA = Tensor::Float({2, 3}, {1, 2, 3, 4, 5, 6});

TEST(GemmTest, TransBAlphaBetaAndRowBias) {
  // A·Bᵀ = [[4,2],[10,5]]; ×2 = [[8,4],[20,10]]; + 0.5·[1,2].
  Tensor b = Tensor::Float({2, 3}, {1, 0, 1, 0, 1, 0});
  Tensor c = Tensor::Float({2}, {1, 2});
  Tensor y =
      Run1("Gemm", {kA, b, c}, Attrs({{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_THAT(Values(y), ElementsAre(8.5f, 5.0f, 20.5f, 11.0f));
}

TEST(GemmTest, BiasBroadcastShapes) {
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 0});  // A·B = [[4,2],[10,5]]
  EXPECT_THAT(Values(Run1("Gemm", {kA, b, Tensor::Float({2, 1}, {1, 2})})),
              ElementsAre(5, 3, 12, 7));
  EXPECT_THAT(Values(Run1("Gemm", {kA, b, Tensor::Float({}, {3})})), ElementsAre(7, 5, 13, 8));
  EXPECT_THAT(Values(Run1("Gemm", {kA, b, Tensor::Float({2, 2}, {1, 2, 3, 4})})),
              ElementsAre(5, 4, 13, 9));
  EXPECT_THAT(Values(Run1("Gemm", {kA, b})), ElementsAre(4, 2, 10, 5));
}

TEST(GemmTest, TransA) {
  Tensor at = Tensor::Float({3, 2}, {1, 4, 2, 5, 3, 6});  // kA transposed
  Tensor b = Tensor::Float({3, 2}, {1, 0, 0, 1, 1, 0});
  EXPECT_THAT(Values(Run1("Gemm", {at, b}, Attrs({{"transA", int64_t{1}}}))),
              ElementsAre(4, 2, 10, 5));
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
  EXPECT_THAT(Values(y), ElementsAre(4, 5, 10, 11, 1, 0, 0, 1));
}

TEST(MatMulTest, BroadcastLhsAndBatchOfOne) {
  // [2,3] × [2,3,2]: the lhs is reused for each rhs matrix.
  Tensor b = Tensor::Float({2, 3, 2}, {1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0});
  Tensor y = Run1("MatMul", {kA, b});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(Values(y), ElementsAre(4, 5, 10, 11, 3, 0, 6, 0));
  // [1,2,3] × [2,3,2] broadcasts the batch dimension of size 1.
  Tensor y1 = Run1("MatMul", {kA.Reshaped({1, 2, 3}), b});
  EXPECT_THAT(Values(y1), ElementsAre(4, 5, 10, 11, 3, 0, 6, 0));
}

TEST(MatMulTest, VectorOperands) {
  Tensor v = Tensor::Float({3}, {1, 0, 1});
  Tensor y = Run1("MatMul", {kA, v});
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_THAT(Values(y), ElementsAre(4, 10));
  Tensor w = Tensor::Float({2}, {1, 1});
  Tensor z = Run1("MatMul", {w, kA});
  EXPECT_EQ(z.shape(), (Shape{3}));
  EXPECT_THAT(Values(z), ElementsAre(5, 7, 9));
  EXPECT_EQ(RunOp("MatMul", {kA, kA}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AddTest, SameShapeAndBroadcast) {
  EXPECT_THAT(Values(Run1("Add", {kA, kA})), ElementsAre(2, 4, 6, 8, 10, 12));
  EXPECT_THAT(Values(Run1("Add", {kA, Tensor::Float({3}, {10, 20, 30})})),
              ElementsAre(11, 22, 33, 14, 25, 36));
  Tensor col = Tensor::Float({2, 1}, {1, 2});
  Tensor row = Tensor::Float({1, 3}, {10, 20, 30});
  Tensor y = Run1("Add", {col, row});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(Values(y), ElementsAre(11, 21, 31, 12, 22, 32));
  EXPECT_THAT(Values(Run1("Add", {Tensor::Float({}, {1}), kA})), ElementsAre(2, 3, 4, 5, 6, 7));
  absl::StatusOr<std::vector<Tensor>> bad = RunOp("Add", {kA, Tensor::Float({2}, {1, 2})});
  EXPECT_THAT(bad.status().message(), HasSubstr("shapes [2,3] and [2] cannot be broadcast"));
}

TEST(UnaryTest, ReluSigmoidTanh) {
  Tensor x = Tensor::Float({4}, {-2, 0, 1, -1000});
  EXPECT_THAT(Values(Run1("Relu", {x})), ElementsAre(0, 0, 1, 0));
  EXPECT_THAT(Values(Run1("Sigmoid", {x})),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.11920292f, 0.5f, 0.73105858f, 0.0f}));
  EXPECT_THAT(
      Values(Run1("Tanh", {x})),
      Pointwise(FloatNear(1e-6), std::vector<float>{-0.96402758f, 0.0f, 0.76159416f, -1.0f}));
}

TEST(SoftmaxTest, LastAxisByDefault) {
  Tensor x = Tensor::Float({1, 3}, {0, std::log(2.0f), std::log(3.0f)});
  EXPECT_THAT(Values(Run1("Softmax", {x})),
              Pointwise(FloatNear(1e-6), std::vector<float>{1 / 6.0f, 2 / 6.0f, 3 / 6.0f}));
}

TEST(SoftmaxTest, AxisZeroOpset13) {
  Tensor x = Tensor::Float({2, 2}, {0, 5, std::log(3.0f), 5});
  Tensor y = Run1("Softmax", {x}, Attrs({{"axis", int64_t{0}}}));
  EXPECT_THAT(Values(y), Pointwise(FloatNear(1e-6), std::vector<float>{0.25f, 0.5f, 0.75f, 0.5f}));
}

TEST(SoftmaxTest, Opset13AxisVersusOpset11Flatten) {
  const std::vector<float> v = {0, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  Tensor x = Tensor::Float({1, 2, 2}, v);
  // Opset 13, axis 1: pairs (1,3) and (2,4) along dimension 1.
  EXPECT_THAT(Values(Run1("Softmax", {x}, Attrs({{"axis", int64_t{1}}}), 13)),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.25f, 2 / 6.0f, 0.75f, 4 / 6.0f}));
  // Opset 11, default axis 1: flattened to [1,4], one softmax over all four.
  EXPECT_THAT(Values(Run1("Softmax", {x}, {}, 11)),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f}));
}

TEST(SoftmaxTest, LargeValuesStayFiniteAndBadAxis) {
  Tensor y = Run1("Softmax", {Tensor::Float({1, 2}, {1000, 1000})});
  EXPECT_THAT(Values(y), ElementsAre(0.5f, 0.5f));
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
  EXPECT_THAT(Values(Run1("Flatten", {kA.Reshaped({3, 2})})), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(ReshapeTest, ZeroAndMinusOne) {
  Tensor x = Tensor::Zeros({2, 3, 4});
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({2}, {0, -1})}).shape(), (Shape{2, 12}));
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({1}, {-1})}).shape(), (Shape{24}));
  EXPECT_EQ(Run1("Reshape", {x, Tensor::Int64({3}, {4, 0, -1})}).shape(), (Shape{4, 3, 2}));
  EXPECT_THAT(Values(Run1("Reshape", {kA, Tensor::Int64({2}, {3, 2})})),
              ElementsAre(1, 2, 3, 4, 5, 6));
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
  EXPECT_THAT(Values(Run1("Identity", {kA})), ElementsAre(1, 2, 3, 4, 5, 6));
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
  EXPECT_EQ(registry.Find("LSTM"), nullptr);
}

}  // namespace
}  // namespace stoa::functions::onnx
