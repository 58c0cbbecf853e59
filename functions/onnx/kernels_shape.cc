// Ops that only change the shape: Flatten, Reshape, Identity (any element type).
#include "absl/strings/str_cat.h"
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

absl::Status ExpectPresent(KernelInputs in, int i) {
  if (i >= static_cast<int>(in.size()) || in[i] == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " is missing"));
  }
  return absl::OkStatus();
}

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
}

}  // namespace stoa::functions::onnxrt
