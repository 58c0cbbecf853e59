// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual → BOOL),
// Max and Min (variadic), and Where, with numpy broadcasting (broadcast.h).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/broadcast.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

enum class Compare { kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual };

template <Compare kOp>
absl::StatusOr<std::vector<Tensor>> RunCompare(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(SameType(node, in));
  absl::StatusOr<Tensor> y = VisitType(in[0]->type(), [&](auto zero) -> absl::StatusOr<Tensor> {
    using T = decltype(zero);
    return Broadcast2<T, uint8_t>(*in[0], *in[1], ElementType::kBool, [](T a, T b) -> uint8_t {
      if constexpr (kOp == Compare::kEqual) return a == b;
      if constexpr (kOp == Compare::kLess) return a < b;
      if constexpr (kOp == Compare::kGreater) return a > b;
      if constexpr (kOp == Compare::kLessOrEqual) return a <= b;
      if constexpr (kOp == Compare::kGreaterOrEqual) return a >= b;
    });
  });
  if (!y.ok()) return y.status();
  return One(*std::move(y));
}

// Max / Min over 1..N inputs of one numeric type, with broadcasting.
template <bool kMax>
absl::StatusOr<std::vector<Tensor>> RunMinMax(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const ElementType type = in[0]->type();
  if (type == ElementType::kBool) return absl::InvalidArgumentError("BOOL is not supported");
  Tensor acc = *in[0];
  for (size_t i = 1; i < in.size(); ++i) {
    RETURN_IF_ERROR(ExpectPresent(in, static_cast<int>(i)));
    if (in[i]->type() != type) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", node.input_names[i], "' is ", ElementTypeName(in[i]->type()),
                       ", input '", node.input_names[0], "' is ", ElementTypeName(type)));
    }
    absl::StatusOr<Tensor> next = VisitType(type, [&](auto zero) -> absl::StatusOr<Tensor> {
      using T = decltype(zero);
      return Broadcast2<T, T>(acc, *in[i], type, [](T a, T b) -> T {
        if constexpr (kMax) return a < b ? b : a;
        return b < a ? b : a;
      });
    });
    if (!next.ok()) return next.status();
    acc = *std::move(next);
  }
  return One(std::move(acc));
}

// Where(cond, x, y): three-way broadcast.
absl::StatusOr<std::vector<Tensor>> RunWhere(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  if (in[0]->type() != ElementType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("condition must be BOOL, got ", ElementTypeName(in[0]->type())));
  }
  const Tensor* x = in[1];
  const Tensor* y = in[2];
  if (x->type() != y->type()) {
    return absl::InvalidArgumentError(absl::StrCat("X (", ElementTypeName(x->type()), ") and Y (",
                                                   ElementTypeName(y->type()), ") differ in type"));
  }
  (void)node;
  ASSIGN_OR_RETURN(Shape xy, BroadcastShapes(x->shape(), y->shape()));
  ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(in[0]->shape(), xy));
  RETURN_IF_ERROR(CheckAllocation(x->type(), shape));
  const std::vector<int64_t> cs = BroadcastStrides(in[0]->shape(), shape);
  const std::vector<int64_t> xs = BroadcastStrides(x->shape(), shape);
  const std::vector<int64_t> ys = BroadcastStrides(y->shape(), shape);
  Tensor out = Tensor::Empty(x->type(), shape);
  VisitBits(x->type(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const uint8_t> c = in[0]->bools();
    std::span<const T> xv = View<T>(*x), yv = View<T>(*y);
    std::span<T> ov = MutableView<T>(out);
    const size_t rank = shape.size();
    std::vector<int64_t> idx(rank, 0);
    for (size_t i = 0; i < ov.size(); ++i) {
      int64_t co = 0, xo = 0, yo = 0;
      for (size_t d = 0; d < rank; ++d) {
        co += idx[d] * cs[d];
        xo += idx[d] * xs[d];
        yo += idx[d] * ys[d];
      }
      ov[i] = c[co] ? xv[xo] : yv[yo];
      for (size_t d = rank; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    return 0;
  });
  return One(std::move(out));
}

OpKernel Simple(int inputs, absl::StatusOr<std::vector<Tensor>> (*run)(const Node&, KernelInputs)) {
  return {.min_inputs = inputs,
          .max_inputs = inputs,
          .max_outputs = 1,
          .validate = nullptr,
          .run = run};
}

}  // namespace

void RegisterCompareKernels(OpRegistry& registry) {
  registry.Register("Equal", Simple(2, RunCompare<Compare::kEqual>));
  registry.Register("Less", Simple(2, RunCompare<Compare::kLess>));
  registry.Register("Greater", Simple(2, RunCompare<Compare::kGreater>));
  registry.Register("LessOrEqual", Simple(2, RunCompare<Compare::kLessOrEqual>));
  registry.Register("GreaterOrEqual", Simple(2, RunCompare<Compare::kGreaterOrEqual>));
  registry.Register("Max", {.min_inputs = 1,
                            .max_inputs = 64,
                            .max_outputs = 1,
                            .validate = nullptr,
                            .run = RunMinMax<true>});
  registry.Register("Min", {.min_inputs = 1,
                            .max_inputs = 64,
                            .max_outputs = 1,
                            .validate = nullptr,
                            .run = RunMinMax<false>});
  registry.Register("Where", Simple(3, RunWhere));
}

}  // namespace stoa::functions::onnx
