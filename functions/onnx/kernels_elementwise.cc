// Elementwise ops on Eigen arrays: Add (numpy broadcasting), Relu, Sigmoid, Tanh.
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"

namespace stoa::functions::onnxrt {
namespace {

std::vector<Tensor> One(Tensor t) {
  std::vector<Tensor> out;
  out.push_back(std::move(t));
  return out;
}

// out = f(a, b) with numpy broadcasting. `array_op` handles equal shapes on
// whole Eigen arrays; `scalar_op` handles the broadcast case element by element.
template <typename ArrayOp, typename ScalarOp>
absl::StatusOr<std::vector<Tensor>> BinaryFloat(const Node& node, KernelInputs in, ArrayOp array_op,
                                                ScalarOp scalar_op) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a.shape(), b.shape()));
  RETURN_IF_ERROR(ElementCount(shape).status());
  Tensor y = Tensor::Zeros(shape);
  std::span<float> yv = y.mutable_floats();
  std::span<const float> av = a.floats(), bv = b.floats();
  if (a.shape() == b.shape()) {
    ArrayMap(yv.data(), y.size()) =
        array_op(ConstArrayMap(av.data(), a.size()), ConstArrayMap(bv.data(), b.size()));
  } else {
    ForEachBroadcast(shape, BroadcastStrides(a.shape(), shape), BroadcastStrides(b.shape(), shape),
                     [&](int64_t i, int64_t ao, int64_t bo) { yv[i] = scalar_op(av[ao], bv[bo]); });
  }
  return One(std::move(y));
}

template <typename ArrayOp>
absl::StatusOr<std::vector<Tensor>> UnaryFloat(const Node& node, KernelInputs in, ArrayOp op) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  Tensor y = Tensor::Zeros(x.shape());
  ArrayMap(y.mutable_floats().data(), y.size()) = op(ConstArrayMap(x.floats().data(), x.size()));
  return One(std::move(y));
}

absl::StatusOr<std::vector<Tensor>> RunAdd(const Node& node, KernelInputs in) {
  return BinaryFloat(
      node, in, [](const auto& a, const auto& b) { return a + b; },
      [](float a, float b) { return a + b; });
}

absl::StatusOr<std::vector<Tensor>> RunRelu(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.max(0.0f); });
}

absl::StatusOr<std::vector<Tensor>> RunSigmoid(const Node& node, KernelInputs in) {
  // exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
  return UnaryFloat(node, in, [](const auto& x) { return 1.0f / (1.0f + (-x).exp()); });
}

absl::StatusOr<std::vector<Tensor>> RunTanh(const Node& node, KernelInputs in) {
  return UnaryFloat(node, in, [](const auto& x) { return x.tanh(); });
}

}  // namespace

void RegisterElementwiseKernels(OpRegistry& registry) {
  registry.Register(
      "Add",
      {.min_inputs = 2, .max_inputs = 2, .max_outputs = 1, .validate = nullptr, .run = RunAdd});
  registry.Register(
      "Relu",
      {.min_inputs = 1, .max_inputs = 1, .max_outputs = 1, .validate = nullptr, .run = RunRelu});
  registry.Register(
      "Sigmoid",
      {.min_inputs = 1, .max_inputs = 1, .max_outputs = 1, .validate = nullptr, .run = RunSigmoid});
  registry.Register(
      "Tanh",
      {.min_inputs = 1, .max_inputs = 1, .max_outputs = 1, .validate = nullptr, .run = RunTanh});
}

}  // namespace stoa::functions::onnxrt
