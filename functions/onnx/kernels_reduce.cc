// ReduceMean, ReduceSum, ReduceMax on FP32: axes from the attribute or (when
// given) the second input, keepdims, noop_with_empty_axes.
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"

namespace stoa::functions::onnx {
namespace {

enum class Reduce { kMean, kSum, kMax };

absl::Status ValidateReduce(const Node& node) {
  RETURN_IF_ERROR(node.attributes.GetInts("axes").status());
  RETURN_IF_ERROR(node.attributes.GetInt("keepdims", 1).status());
  return node.attributes.GetInt("noop_with_empty_axes", 0).status();
}

template <Reduce kOp>
absl::StatusOr<std::vector<Tensor>> RunReduce(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, node.attributes.GetInts("axes"));
  if (HasInput(in, 1)) {
    ASSIGN_OR_RETURN(axes, ReadInts(node, in, 1));
  }
  ASSIGN_OR_RETURN(int64_t keepdims, node.attributes.GetInt("keepdims", 1));
  ASSIGN_OR_RETURN(int64_t noop, node.attributes.GetInt("noop_with_empty_axes", 0));
  if (axes.empty() && noop != 0) return One(x);
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axes"));
    reduced[axis] = true;
  }
  Shape kept_shape(rank), out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    kept_shape[d] = reduced[d] ? 1 : x.shape()[d];
    if (!reduced[d]) {
      out_shape.push_back(x.shape()[d]);
    } else if (keepdims) {
      out_shape.push_back(1);
    }
  }
  const float init = kOp == Reduce::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  Tensor y = Tensor::Float(kept_shape, std::vector<float>(DimProduct(kept_shape, 0, rank), init));
  std::span<float> yv = y.mutable_floats();
  std::span<const float> xv = x.floats();
  const std::vector<int64_t> ys = BroadcastStrides(kept_shape, x.shape());
  const std::vector<int64_t> xs = BroadcastStrides(x.shape(), x.shape());
  ForEachBroadcast(x.shape(), xs, ys, [&](int64_t, int64_t xo, int64_t yo) {
    if constexpr (kOp == Reduce::kMax) {
      yv[yo] = std::max(yv[yo], xv[xo]);
    } else {
      yv[yo] += xv[xo];
    }
  });
  if (kOp == Reduce::kMean && !yv.empty()) {
    const int64_t count = x.size() / static_cast<int64_t>(yv.size());
    for (float& v : yv) v /= static_cast<float>(count);
  }
  return One(std::move(y).Reshaped(std::move(out_shape)));
}

OpKernel ReduceKernel(absl::StatusOr<std::vector<Tensor>> (*run)(const Node&, KernelInputs)) {
  return {
      .min_inputs = 1, .max_inputs = 2, .max_outputs = 1, .validate = ValidateReduce, .run = run};
}

}  // namespace

void RegisterReduceKernels(OpRegistry& registry) {
  registry.Register("ReduceMean", ReduceKernel(RunReduce<Reduce::kMean>));
  registry.Register("ReduceSum", ReduceKernel(RunReduce<Reduce::kSum>));
  registry.Register("ReduceMax", ReduceKernel(RunReduce<Reduce::kMax>));
}

}  // namespace stoa::functions::onnx
