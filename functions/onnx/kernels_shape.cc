// Ops that only change or report the shape, any element type: Flatten,
// Reshape, Identity, Squeeze, Unsqueeze, Shape, Constant, ConstantOfShape,
// Expand.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ValidateFlatten(const Node& node) {
  return node.attributes.GetInt("axis", 1).status();
}

absl::StatusOr<std::vector<Tensor>> RunFlatten(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(int64_t attr_axis, node.attributes.GetInt("axis", 1));
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(attr_axis, x.rank(), "axis", /*extra=*/1));
  const auto& s = x.shape();
  return One(x.Reshaped({DimProduct(s, 0, axis), DimProduct(s, axis, s.size())}));
}

absl::Status ValidateReshape(const Node& node) {
  ASSIGN_OR_RETURN(int64_t allowzero, node.attributes.GetInt("allowzero", 0));
  if (allowzero != 0 && allowzero != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute 'allowzero' must be 0 or 1, got ", allowzero));
  }
  return absl::OkStatus();
}

// The output shape of Reshape: 0 copies the input dimension (unless
// allowzero), one -1 is inferred from the element count.
absl::StatusOr<Shape> ReshapeTarget(const Shape& in_shape, int64_t in_size,
                                    std::span<const int64_t> requested, bool allowzero) {
  Shape out(requested.begin(), requested.end());
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowzero) {
      if (i >= in_shape.size()) {
        return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeString(requested),
                                                       " copies dimension ", i, " of input shape ",
                                                       ShapeString(in_shape), ", which has none"));
      }
      out[i] = in_shape[i];
    }
    if (out[i] == -1) {
      if (unknown >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("shape ", ShapeString(requested), " has more than one -1"));
      }
      unknown = static_cast<int>(i);
    } else if (out[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(requested), " has a negative dimension"));
    } else if (__builtin_mul_overflow(known, out[i], &known)) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(requested), " is too large"));
    }
  }
  if (unknown >= 0) {
    if (known == 0 || in_size % known != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot reshape ", ShapeString(in_shape), " to ", ShapeString(requested)));
    }
    out[unknown] = in_size / known;
  } else if (known != in_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", ShapeString(in_shape), " (", in_size, " elements) to ",
                     ShapeString(requested), " (", known, " elements)"));
  }
  return out;
}

absl::StatusOr<std::vector<Tensor>> RunReshape(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  RETURN_IF_ERROR(ExpectInt64(node, in, 1));
  RETURN_IF_ERROR(ExpectRank(node, in, 1, 1));
  ASSIGN_OR_RETURN(int64_t allowzero, node.attributes.GetInt("allowzero", 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(Shape shape,
                   ReshapeTarget(x.shape(), x.size(), in[1]->int64s(), allowzero != 0));
  return One(x.Reshaped(std::move(shape)));
}

absl::StatusOr<std::vector<Tensor>> RunIdentity(const Node&, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  return One(*in[0]);
}

// Axes from the attribute (before `input_from_opset`) or from input #1.
absl::StatusOr<std::vector<int64_t>> AxesArg(const Node& node, KernelInputs in,
                                             int64_t input_from_opset) {
  if (node.opset < input_from_opset) return node.attributes.GetInts("axes");
  if (!HasInput(in, 1)) return std::vector<int64_t>{};
  return ReadInts(node, in, 1);
}

absl::StatusOr<std::vector<Tensor>> RunSqueeze(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesArg(node, in, 13));
  std::vector<bool> drop(x.rank(), false);
  if (axes.empty()) {
    for (int64_t d = 0; d < x.rank(); ++d) drop[d] = x.shape()[d] == 1;
  }
  for (int64_t a : axes) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, x.rank(), "axes"));
    if (x.shape()[axis] != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot squeeze axis ", a, " of shape ", ShapeString(x.shape()), ": not 1"));
    }
    drop[axis] = true;
  }
  Shape out;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (!drop[d]) out.push_back(x.shape()[d]);
  }
  return One(x.Reshaped(std::move(out)));
}

absl::StatusOr<std::vector<Tensor>> RunUnsqueeze(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesArg(node, in, 13));
  const int64_t rank = x.rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> added(rank, false);
  for (int64_t a : axes) {
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank, "axes"));
    if (added[axis]) return absl::InvalidArgumentError(absl::StrCat("axis ", a, " is repeated"));
    added[axis] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) out.push_back(added[d] ? 1 : x.shape()[next++]);
  return One(x.Reshaped(std::move(out)));
}

absl::StatusOr<std::vector<Tensor>> RunShape(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  const int64_t rank = in[0]->rank();
  ASSIGN_OR_RETURN(int64_t start, node.attributes.GetInt("start", 0));
  ASSIGN_OR_RETURN(int64_t end, node.attributes.GetInt("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(in[0]->shape()[d]);
  const int64_t n = static_cast<int64_t>(dims.size());
  return One(Tensor::Int64({n}, std::move(dims)));
}

absl::StatusOr<Tensor> ConstantValue(const Node& node) {
  const Attributes& a = node.attributes;
  if (a.Has("value")) {
    ASSIGN_OR_RETURN(const Tensor* t, a.GetTensor("value"));
    return *t;
  }
  if (a.Has("value_float")) {
    ASSIGN_OR_RETURN(float v, a.GetFloat("value_float", 0.0f));
    return Tensor::Float({}, {v});
  }
  if (a.Has("value_floats")) {
    ASSIGN_OR_RETURN(std::vector<float> v, a.GetFloats("value_floats"));
    const int64_t n = static_cast<int64_t>(v.size());
    return Tensor::Float({n}, std::move(v));
  }
  if (a.Has("value_int")) {
    ASSIGN_OR_RETURN(int64_t v, a.GetInt("value_int", 0));
    return Tensor::Int64({}, {v});
  }
  if (a.Has("value_ints")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> v, a.GetInts("value_ints"));
    const int64_t n = static_cast<int64_t>(v.size());
    return Tensor::Int64({n}, std::move(v));
  }
  return absl::InvalidArgumentError(
      "needs one of the attributes value, value_float(s), value_int(s) (sparse and string "
      "values are not supported)");
}

absl::Status ValidateConstant(const Node& node) { return ConstantValue(node).status(); }

absl::StatusOr<std::vector<Tensor>> RunConstant(const Node& node, KernelInputs) {
  ASSIGN_OR_RETURN(Tensor t, ConstantValue(node));
  return One(std::move(t));
}

absl::StatusOr<std::vector<Tensor>> RunConstantOfShape(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(node, in, 0));
  if (!node.attributes.Has("value")) {
    RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, shape));
    return One(Tensor::Zeros(std::move(shape)));
  }
  ASSIGN_OR_RETURN(const Tensor* value, node.attributes.GetTensor("value"));
  if (value->size() != 1)
    return absl::InvalidArgumentError("attribute 'value' must hold one element");
  RETURN_IF_ERROR(CheckAllocation(value->type(), shape));
  Tensor y = Tensor::Empty(value->type(), std::move(shape));
  const size_t es = ElementSize(y.type());
  for (int64_t i = 0; i < y.size(); ++i) std::memcpy(y.mutable_raw() + i * es, value->raw(), es);
  return One(std::move(y));
}

// Expand: numpy broadcast of X to (X.shape ⊕ shape).
absl::StatusOr<std::vector<Tensor>> RunExpand(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  ASSIGN_OR_RETURN(std::vector<int64_t> target, ReadInts(node, in, 1));
  const Tensor& x = *in[0];
  ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(x.shape(), target));
  RETURN_IF_ERROR(CheckAllocation(x.type(), shape));
  Tensor y = Tensor::Empty(x.type(), shape);
  const std::vector<int64_t> xs = BroadcastStrides(x.shape(), shape);
  const std::vector<int64_t> ys = BroadcastStrides(shape, shape);
  const size_t es = ElementSize(x.type());
  const uint8_t* src = x.raw();
  uint8_t* dst = y.mutable_raw();
  ForEachBroadcast(shape, ys, xs, [&](int64_t i, int64_t, int64_t xo) {
    std::memcpy(dst + i * es, src + xo * es, es);
  });
  return One(std::move(y));
}

}  // namespace

void RegisterShapeKernels(OpRegistry& registry) {
  registry.Register("Flatten", {.min_inputs = 1,
                                .max_inputs = 1,
                                .max_outputs = 1,
                                .validate = ValidateFlatten,
                                .run = RunFlatten});
  registry.Register("Reshape", {.min_inputs = 2,
                                .max_inputs = 2,
                                .max_outputs = 1,
                                .validate = ValidateReshape,
                                .run = RunReshape});
  registry.Register("Identity", {.min_inputs = 1,
                                 .max_inputs = 1,
                                 .max_outputs = 1,
                                 .validate = nullptr,
                                 .run = RunIdentity});
  registry.Register(
      "Squeeze",
      {.min_inputs = 1, .max_inputs = 2, .max_outputs = 1, .validate = nullptr, .run = RunSqueeze});
  registry.Register("Unsqueeze", {.min_inputs = 1,
                                  .max_inputs = 2,
                                  .max_outputs = 1,
                                  .validate = nullptr,
                                  .run = RunUnsqueeze});
  registry.Register(
      "Shape",
      {.min_inputs = 1, .max_inputs = 1, .max_outputs = 1, .validate = nullptr, .run = RunShape});
  registry.Register("Constant", {.min_inputs = 0,
                                 .max_inputs = 0,
                                 .max_outputs = 1,
                                 .validate = ValidateConstant,
                                 .run = RunConstant});
  registry.Register("ConstantOfShape", {.min_inputs = 1,
                                        .max_inputs = 1,
                                        .max_outputs = 1,
                                        .validate = nullptr,
                                        .run = RunConstantOfShape});
  registry.Register(
      "Expand",
      {.min_inputs = 2, .max_inputs = 2, .max_outputs = 1, .validate = nullptr, .run = RunExpand});
}

}  // namespace stoa::functions::onnx
