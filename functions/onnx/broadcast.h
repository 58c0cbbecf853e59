// Numpy-style broadcasting of two tensors for the elementwise kernels
// (kernels_elementwise.cc, kernels_compare.cc): Broadcast2 computes
// y = op(a, b) elementwise, with fast paths for equal shapes, a scalar b and
// trailing runs (BroadcastRuns).
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {

template <typename T>
std::span<const T> View(const Tensor& t) {
  return {reinterpret_cast<const T*>(t.raw()), static_cast<size_t>(t.size())};
}
template <typename T>
std::span<T> MutableView(Tensor& t) {
  return {reinterpret_cast<T*>(t.mutable_raw()), static_cast<size_t>(t.size())};
}

// The general broadcast, a run of trailing elements at a time: the
// trailing dimensions over which one operand is contiguous and the other
// either contiguous too or fixed (a per-channel scale [1,C,1,1] against
// [N,C,H,W], a row vector against a matrix) form one inner loop the
// compiler vectorises; only the outer index is walked element by element.
template <typename T, typename Out, typename Op>
void BroadcastRuns(const Shape& shape, const std::vector<int64_t>& as,
                   const std::vector<int64_t>& bs, std::span<const T> av, std::span<const T> bv,
                   std::span<Out> yv, Op op) {
  enum Mode { kNone, kARuns, kBRuns, kBothRun };
  Mode mode = kNone;
  int64_t inner = 1;
  size_t split = shape.size();
  for (; split > 0; --split) {
    const size_t k = split - 1;
    if (shape[k] == 1) continue;
    const bool a_runs = as[k] == inner, b_runs = bs[k] == inner;
    const Mode m = a_runs && b_runs       ? kBothRun
                   : a_runs && bs[k] == 0 ? kARuns
                   : b_runs && as[k] == 0 ? kBRuns
                                          : kNone;
    if (m == kNone || (mode != kNone && m != mode)) break;
    mode = m;
    inner *= shape[k];
  }
  const std::span<const int64_t> outer(shape.data(), split);
  ForEachBroadcast(outer, std::span<const int64_t>(as.data(), split),
                   std::span<const int64_t>(bs.data(), split),
                   [&](int64_t i, int64_t ao, int64_t bo) {
                     Out* y = yv.data() + i * inner;
                     const T* a = av.data() + ao;
                     const T* b = bv.data() + bo;
                     switch (mode) {
                       case kARuns:
                         for (int64_t j = 0; j < inner; ++j) y[j] = op(a[j], *b);
                         break;
                       case kBRuns:
                         for (int64_t j = 0; j < inner; ++j) y[j] = op(*a, b[j]);
                         break;
                       default:  // kBothRun, or inner == 1 (kNone)
                         for (int64_t j = 0; j < inner; ++j) y[j] = op(a[j], b[j]);
                         break;
                     }
                   });
}

// y[i] = op(a[.], b[.]) with broadcasting; Out is y's element type.
template <typename T, typename Out, typename Op>
absl::StatusOr<Tensor> Broadcast2(const Tensor& a, const Tensor& b, ElementType out_type, Op op) {
  ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a.shape(), b.shape()));
  RETURN_IF_ERROR(CheckAllocation(out_type, shape));
  Tensor y = out_type == ElementType::kFloat32 ? Tensor::Uninitialized(shape)
                                               : Tensor::Empty(out_type, shape);
  std::span<Out> yv = MutableView<Out>(y);
  std::span<const T> av = View<T>(a), bv = View<T>(b);
  if (a.shape() == b.shape()) {
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = op(av[i], bv[i]);
  } else if (b.size() == 1) {
    const T s = bv[0];
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = op(av[i], s);
  } else {
    BroadcastRuns<T, Out>(shape, BroadcastStrides(a.shape(), shape),
                          BroadcastStrides(b.shape(), shape), av, bv, yv, op);
  }
  return y;
}

inline absl::Status SameType(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  RETURN_IF_ERROR(ExpectPresent(in, 1));
  if (in[0]->type() != in[1]->type()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs '", node.input_names[0], "' (", ElementTypeName(in[0]->type()), ") and '",
        node.input_names[1], "' (", ElementTypeName(in[1]->type()), ") differ in type"));
  }
  return absl::OkStatus();
}

}  // namespace stoa::functions::onnx
