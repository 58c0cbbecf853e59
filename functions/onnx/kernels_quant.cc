// Linear quantization: QuantizeLinear, DequantizeLinear (per tensor or per
// axis, UINT8 / INT8, and INT32 for DequantizeLinear) and
// DynamicQuantizeLinear (FP32 -> UINT8 with the computed scale and zero
// point). Rounding is half to even, as ONNX specifies; values saturate to
// the target type. Blocked quantization (opset 21 `block_size`) is refused
// with a message naming the attribute.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/broadcast.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

// Which scale / zero point applies to flat index i: i / inner % channels
// (channels == 1 for per-tensor quantization).
struct QuantAxis {
  int64_t inner = 1;
  int64_t channels = 1;
  int64_t Channel(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

// Scale (and zero point, when given) are scalars or 1-D over x's `axis`.
absl::StatusOr<QuantAxis> ResolveQuantAxis(const Node& node, const Tensor& x, const Tensor& scale,
                                           const Tensor* zero_point) {
  ASSIGN_OR_RETURN(int64_t block, node.attributes.GetInt("block_size", 0));
  if (block != 0) {
    return absl::InvalidArgumentError(
        "attribute 'block_size' (blocked quantization) is not supported");
  }
  if (zero_point != nullptr && zero_point->shape() != scale.shape()) {
    return absl::InvalidArgumentError(absl::StrCat("zero point ", ShapeString(zero_point->shape()),
                                                   " and scale ", ShapeString(scale.shape()),
                                                   " differ in shape"));
  }
  QuantAxis q;
  if (scale.size() == 1 && scale.rank() <= 1) return q;
  if (scale.rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale ", ShapeString(scale.shape()), " must be a scalar or 1-D"));
  }
  ASSIGN_OR_RETURN(int64_t axis, node.attributes.GetInt("axis", 1));
  if (axis < -x.rank() || axis >= x.rank()) {
    return absl::InvalidArgumentError(
        absl::StrCat("axis ", axis, " is out of range for ", ShapeString(x.shape())));
  }
  if (axis < 0) axis += x.rank();
  if (x.shape()[axis] != scale.size()) {
    return absl::InvalidArgumentError(absl::StrCat("scale has ", scale.size(), " values, axis ",
                                                   axis, " of ", ShapeString(x.shape()), " has ",
                                                   x.shape()[axis]));
  }
  q.channels = scale.size();
  q.inner = DimProduct(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size());
  return q;
}

// The zero point as int32 per channel (0 when absent).
std::vector<int32_t> ZeroPoints(const Tensor* zero_point, int64_t channels) {
  std::vector<int32_t> zp(static_cast<size_t>(channels), 0);
  if (zero_point == nullptr) return zp;
  VisitType(zero_point->type(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> v = View<T>(*zero_point);
    for (size_t c = 0; c < zp.size(); ++c) zp[c] = static_cast<int32_t>(v[c]);
    return 0;
  });
  return zp;
}

template <typename T>
T SaturateRound(float v) {
  const float r = std::nearbyint(v);  // half to even in the default rounding mode
  constexpr float lo = static_cast<float>(std::numeric_limits<T>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<T>::max());
  if (std::isnan(r)) return T{0};
  return static_cast<T>(std::clamp(r, lo, hi));
}

absl::Status ExpectQuantType(const Node& node, const Tensor& t, int i, bool allow_int32) {
  const ElementType type = t.type();
  if (type == ElementType::kUInt8 || type == ElementType::kInt8 ||
      (allow_int32 && type == ElementType::kInt32)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("input '", node.input_names[i], "' is ", ElementTypeName(type), "; expected ",
                   allow_int32 ? "UINT8, INT8 or INT32" : "UINT8 or INT8"));
}

absl::StatusOr<ElementType> QuantizedOutputType(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(int64_t dtype, node.attributes.GetInt("output_dtype", 0));
  if (HasInput(in, 2)) {
    RETURN_IF_ERROR(ExpectQuantType(node, *in[2], 2, false));
    return in[2]->type();
  }
  if (dtype == 0) return ElementType::kUInt8;
  ASSIGN_OR_RETURN(ElementType type, ElementTypeFromOnnx(static_cast<int32_t>(dtype)));
  if (type != ElementType::kUInt8 && type != ElementType::kInt8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attribute 'output_dtype' is ", ElementTypeName(type), "; supported: UINT8, INT8"));
  }
  return type;
}

absl::StatusOr<std::vector<Tensor>> RunQuantizeLinear(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  const Tensor& x = *in[0];
  const Tensor& scale = *in[1];
  const Tensor* zero_point = HasInput(in, 2) ? in[2] : nullptr;
  ASSIGN_OR_RETURN(ElementType out_type, QuantizedOutputType(node, in));
  ASSIGN_OR_RETURN(QuantAxis q, ResolveQuantAxis(node, x, scale, zero_point));
  const std::vector<int32_t> zp = ZeroPoints(zero_point, q.channels);
  RETURN_IF_ERROR(CheckAllocation(out_type, x.shape()));
  Tensor y = Tensor::Empty(out_type, x.shape());
  const std::span<const float> xv = x.floats(), sv = scale.floats();
  VisitType(out_type, [&](auto zero) {
    using T = decltype(zero);
    std::span<T> yv = MutableView<T>(y);
    // One run of `inner` elements shares a scale and zero point.
    const int64_t inner = q.channels == 1 ? std::max<int64_t>(x.size(), 1) : q.inner;
    for (int64_t start = 0; start < x.size(); start += inner) {
      const int64_t c = q.Channel(start);
      const float s = sv[c], z = static_cast<float>(zp[c]);
      const int64_t end = std::min(x.size(), start + inner);
      for (int64_t i = start; i < end; ++i) {
        // Round first, then add the zero point (ONNX: saturate(round(x / s) + zp)).
        yv[i] = SaturateRound<T>(std::nearbyint(xv[i] / s) + z);
      }
    }
    return 0;
  });
  return One(std::move(y));
}

absl::StatusOr<std::vector<Tensor>> RunDequantizeLinear(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectPresent(in, 0));
  RETURN_IF_ERROR(ExpectQuantType(node, *in[0], 0, true));
  RETURN_IF_ERROR(ExpectFloat(node, in, 1));
  const Tensor& x = *in[0];
  const Tensor& scale = *in[1];
  const Tensor* zero_point = HasInput(in, 2) ? in[2] : nullptr;
  if (zero_point != nullptr && zero_point->type() != x.type()) {
    return absl::InvalidArgumentError(absl::StrCat("zero point is ",
                                                   ElementTypeName(zero_point->type()), ", x is ",
                                                   ElementTypeName(x.type())));
  }
  ASSIGN_OR_RETURN(QuantAxis q, ResolveQuantAxis(node, x, scale, zero_point));
  const std::vector<int32_t> zp = ZeroPoints(zero_point, q.channels);
  RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, x.shape()));
  Tensor y = Tensor::Uninitialized(x.shape());
  std::span<float> yv = y.mutable_floats();
  const std::span<const float> sv = scale.floats();
  VisitType(x.type(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> xv = View<T>(x);
    const int64_t inner = q.channels == 1 ? std::max<int64_t>(x.size(), 1) : q.inner;
    for (int64_t start = 0; start < x.size(); start += inner) {
      const int64_t c = q.Channel(start);
      const int64_t z = zp[c];
      const float s = sv[c];
      const int64_t end = std::min(x.size(), start + inner);
      for (int64_t i = start; i < end; ++i) {
        yv[i] = static_cast<float>(static_cast<int64_t>(xv[i]) - z) * s;
      }
    }
    return 0;
  });
  return One(std::move(y));
}

// y = saturate(round(x / scale) + zp) with scale and zp chosen so the range
// [min(0, min x), max(0, max x)] maps onto [0, 255].
absl::StatusOr<std::vector<Tensor>> RunDynamicQuantizeLinear(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  RETURN_IF_ERROR(CheckAllocation(ElementType::kUInt8, x.shape()));
  const std::span<const float> xv = x.floats();
  float lo = 0.0f, hi = 0.0f;
  for (float v : xv) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const float scale = (hi - lo) / 255.0f;
  const uint8_t zp = scale == 0.0f ? 0 : SaturateRound<uint8_t>(-lo / scale);
  std::vector<uint8_t> y(xv.size(), zp);
  if (scale != 0.0f) {
    for (size_t i = 0; i < y.size(); ++i) {
      y[i] = SaturateRound<uint8_t>(std::nearbyint(xv[i] / scale) + static_cast<float>(zp));
    }
  }
  std::vector<Tensor> out;
  out.push_back(Tensor::UInt8(x.shape(), std::move(y)));
  out.push_back(Tensor::Float({}, {scale}));
  out.push_back(Tensor::UInt8({}, {zp}));
  return out;
}

}  // namespace

void RegisterQuantKernels(OpRegistry& registry) {
  registry.Register("QuantizeLinear", {.min_inputs = 2,
                                       .max_inputs = 3,
                                       .max_outputs = 1,
                                       .validate = nullptr,
                                       .run = RunQuantizeLinear});
  registry.Register("DequantizeLinear", {.min_inputs = 2,
                                         .max_inputs = 3,
                                         .max_outputs = 1,
                                         .validate = nullptr,
                                         .run = RunDequantizeLinear});
  registry.Register("DynamicQuantizeLinear", {.min_inputs = 1,
                                              .max_inputs = 1,
                                              .max_outputs = 3,
                                              .validate = nullptr,
                                              .run = RunDynamicQuantizeLinear});
}

}  // namespace stoa::functions::onnx
