// Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) on FP32, any
// rank, modes nearest (nearest_mode round_prefer_floor, round_prefer_ceil,
// floor, ceil), linear (N-linear) and cubic (cubic_coeff_a,
// exclude_outside), coordinate_transformation_mode half_pixel,
// pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn and
// tf_crop_and_resize (roi, extrapolation_value).
//
// Each mode is separable: per dimension, every output index reads a few
// input indices ("taps") with weights, so the kernel resizes one dimension
// at a time (dimensions that do not change are skipped), which costs
// taps·size per dimension instead of taps^rank per output element.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

absl::Status OneOf(const std::string& name, const std::string& value,
                   std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("attribute '", name, "' = '", value, "' is not supported"));
}

std::string DefaultTransform(const Node& node) {
  return node.opset < 11 ? "asymmetric" : "half_pixel";
}

struct ResizeAttributes {
  std::string mode;
  std::string transform;
  std::string nearest_mode;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation = 0.0f;
};

absl::StatusOr<ResizeAttributes> ReadAttributes(const Node& node) {
  ResizeAttributes a;
  ASSIGN_OR_RETURN(a.mode, node.attributes.GetString("mode", "nearest"));
  RETURN_IF_ERROR(OneOf("mode", a.mode, {"nearest", "linear", "cubic"}));
  ASSIGN_OR_RETURN(a.transform, node.attributes.GetString("coordinate_transformation_mode",
                                                          DefaultTransform(node)));
  RETURN_IF_ERROR(OneOf("coordinate_transformation_mode", a.transform,
                        {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                         "tf_half_pixel_for_nn", "tf_crop_and_resize"}));
  ASSIGN_OR_RETURN(
      a.nearest_mode,
      node.attributes.GetString("nearest_mode", node.opset < 11 ? "floor" : "round_prefer_floor"));
  RETURN_IF_ERROR(OneOf("nearest_mode", a.nearest_mode,
                        {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}));
  ASSIGN_OR_RETURN(a.cubic_a, node.attributes.GetFloat("cubic_coeff_a", -0.75f));
  ASSIGN_OR_RETURN(int64_t exclude, node.attributes.GetInt("exclude_outside", 0));
  a.exclude_outside = exclude != 0;
  ASSIGN_OR_RETURN(a.extrapolation, node.attributes.GetFloat("extrapolation_value", 0.0f));
  if (node.attributes.Has("antialias") || node.attributes.Has("axes") ||
      node.attributes.Has("keep_aspect_ratio_policy")) {
    return absl::InvalidArgumentError(
        "attributes 'antialias', 'axes' and 'keep_aspect_ratio_policy' are not supported");
  }
  return a;
}

absl::Status ValidateResize(const Node& node) { return ReadAttributes(node).status(); }

// The source coordinate of output index x. `out` is the resized length:
// sizes[d], or in * scale when scales are given (align_corners and
// tf_crop_and_resize use it unrounded, as ONNX's reference does).
double SourceCoordinate(const std::string& transform, int64_t x, double scale, int64_t in,
                        double out, double roi_start, double roi_end) {
  const double xf = static_cast<double>(x);
  if (transform == "half_pixel") return (xf + 0.5) / scale - 0.5;
  if (transform == "pytorch_half_pixel") return out > 1.0 ? (xf + 0.5) / scale - 0.5 : -0.5;
  if (transform == "align_corners") {
    return out == 1.0 ? 0.0 : xf * static_cast<double>(in - 1) / (out - 1.0);
  }
  if (transform == "tf_half_pixel_for_nn") return (xf + 0.5) / scale;
  if (transform == "tf_crop_and_resize") {
    const double span = (roi_end - roi_start) * static_cast<double>(in - 1);
    const double start = roi_start * static_cast<double>(in - 1);
    return out > 1.0 ? start + xf * span / (out - 1.0) : start + span / 2.0;
  }
  return xf / scale;  // asymmetric
}

int64_t Nearest(const std::string& mode, double x, int64_t in) {
  int64_t i;
  if (mode == "floor") {
    i = static_cast<int64_t>(std::floor(x));
  } else if (mode == "ceil") {
    i = static_cast<int64_t>(std::ceil(x));
  } else if (x - std::floor(x) == 0.5) {
    i = static_cast<int64_t>(mode == "round_prefer_ceil" ? std::ceil(x) : std::floor(x));
  } else {
    i = static_cast<int64_t>(std::round(x));
  }
  return std::clamp<int64_t>(i, 0, in - 1);
}

// What one output index of one dimension reads. `outside`: the coordinate
// fell outside the crop (tf_crop_and_resize), the output is the
// extrapolation value.
struct Taps {
  int64_t index[4];
  float weight[4];
  int count = 0;
  bool outside = false;
};

void CubicTaps(double c, int64_t in, const ResizeAttributes& a, Taps& t) {
  const double base = std::floor(c);
  const double r = c - base;
  const double A = a.cubic_a;
  const double d[4] = {1.0 + r, r, 1.0 - r, 2.0 - r};  // distances to base-1 .. base+2
  double sum = 0.0;
  for (int k = 0; k < 4; ++k) {
    const double x = d[k];
    double w = x <= 1.0 ? ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                        : ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    const int64_t idx = static_cast<int64_t>(base) - 1 + k;
    if (a.exclude_outside && (idx < 0 || idx >= in)) w = 0.0;
    t.index[k] = std::clamp<int64_t>(idx, 0, in - 1);
    t.weight[k] = static_cast<float>(w);
    sum += w;
  }
  t.count = 4;
  if (a.exclude_outside && sum != 0.0) {
    for (float& w : t.weight) w = static_cast<float>(w / sum);
  }
}

Taps MakeTaps(const ResizeAttributes& a, double c, int64_t in) {
  Taps t;
  if (a.transform == "tf_crop_and_resize" && (c < 0.0 || c > static_cast<double>(in - 1))) {
    t.outside = true;
    return t;
  }
  if (a.mode == "nearest") {
    t.index[0] = Nearest(a.nearest_mode, c, in);
    t.weight[0] = 1.0f;
    t.count = 1;
  } else if (a.mode == "linear") {
    c = std::clamp(c, 0.0, static_cast<double>(in - 1));
    const int64_t i0 = static_cast<int64_t>(std::floor(c));
    t.index[0] = i0;
    t.index[1] = std::min(i0 + 1, in - 1);
    t.weight[1] = static_cast<float>(c - static_cast<double>(i0));
    t.weight[0] = 1.0f - t.weight[1];
    t.count = 2;
  } else {
    CubicTaps(c, in, a, t);
  }
  return t;
}

bool Identity(const std::vector<Taps>& taps) {
  for (size_t o = 0; o < taps.size(); ++o) {
    const Taps& t = taps[o];
    for (int k = 0; k < t.count; ++k) {
      const bool self = t.index[k] == static_cast<int64_t>(o);
      if (t.weight[k] != (self ? 1.0f : 0.0f) && !(self && t.count == 1)) return false;
    }
    if (t.outside) return false;
  }
  return true;
}

// Resizes dimension d of x (shape `shape`) to taps.size(). Every output
// element is written once: the first tap assigns, the others add.
Tensor ResizeDimension(const Tensor& x, size_t d, const std::vector<Taps>& taps, float fill) {
  Shape out_shape = x.shape();
  out_shape[d] = static_cast<int64_t>(taps.size());
  Tensor y = Tensor::Uninitialized(out_shape);
  const int64_t outer = DimProduct(x.shape(), 0, d);
  const int64_t inner = DimProduct(x.shape(), d + 1, x.shape().size());
  const int64_t n_in = x.shape()[d], n_out = out_shape[d];
  const float* xv = x.floats().data();
  float* yv = y.mutable_floats().data();
  if (inner == 1) {
    // The innermost dimension (a row's width): a gather per element.
    for (int64_t o = 0; o < outer; ++o) {
      const float* src = xv + o * n_in;
      float* dst = yv + o * n_out;
      for (int64_t j = 0; j < n_out; ++j) {
        const Taps& t = taps[j];
        if (t.outside) {
          dst[j] = fill;
          continue;
        }
        float v = t.weight[0] * src[t.index[0]];
        for (int k = 1; k < t.count; ++k) v += t.weight[k] * src[t.index[k]];
        dst[j] = v;
      }
    }
    return y;
  }
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = xv + o * n_in * inner;
    for (int64_t j = 0; j < n_out; ++j) {
      float* dst = yv + (o * n_out + j) * inner;
      const Taps& t = taps[j];
      if (t.outside) {
        std::fill_n(dst, inner, fill);
        continue;
      }
      const float* first = src + t.index[0] * inner;
      const float w0 = t.weight[0];
      if (t.count == 1 && w0 == 1.0f) {
        std::copy_n(first, inner, dst);  // nearest: a row copy
        continue;
      }
      for (int64_t i = 0; i < inner; ++i) dst[i] = w0 * first[i];
      for (int k = 1; k < t.count; ++k) {
        const float w = t.weight[k];
        if (w == 0.0f) continue;
        const float* row = src + t.index[k] * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += w * row[i];
      }
    }
  }
  return y;
}

struct Plan {
  Shape out_shape;
  std::vector<double> scales, resized, roi;  // roi: starts then ends
};

absl::StatusOr<Plan> PlanResize(const Node& node, KernelInputs in, const ResizeAttributes& a) {
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  Plan p{x.shape(), std::vector<double>(rank, 1.0), std::vector<double>(rank), {}};
  p.roi.assign(2 * rank, 0.0);
  for (int64_t d = 0; d < rank; ++d) p.roi[rank + d] = 1.0;
  if (node.opset >= 11 && HasInput(in, 1) && in[1]->size() > 0 &&
      a.transform == "tf_crop_and_resize") {
    RETURN_IF_ERROR(ExpectFloat(node, in, 1));
    if (in[1]->size() != 2 * rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("roi has ", in[1]->size(), " entries for rank ", rank));
    }
    for (int64_t i = 0; i < 2 * rank; ++i) p.roi[i] = in[1]->floats()[i];
  }
  const int scales_input = node.opset < 11 ? 1 : 2;
  if (HasInput(in, 3) && in[3]->size() > 0) {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ReadInts(node, in, 3));
    if (static_cast<int64_t>(sizes.size()) != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("sizes has ", sizes.size(), " entries for rank ", rank));
    }
    for (int64_t d = 0; d < rank; ++d) {
      p.out_shape[d] = sizes[d];
      p.scales[d] = static_cast<double>(sizes[d]) / static_cast<double>(x.shape()[d]);
      p.resized[d] = static_cast<double>(sizes[d]);
    }
  } else if (HasInput(in, scales_input) && in[scales_input]->size() > 0) {
    RETURN_IF_ERROR(ExpectFloat(node, in, scales_input));
    std::span<const float> s = in[scales_input]->floats();
    if (static_cast<int64_t>(s.size()) != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("scales has ", s.size(), " entries for rank ", rank));
    }
    for (int64_t d = 0; d < rank; ++d) {
      if (!(s[d] > 0.0f)) return absl::InvalidArgumentError("scales must be positive");
      p.scales[d] = s[d];
      p.resized[d] = static_cast<double>(x.shape()[d]) * s[d];
      const double crop = a.transform == "tf_crop_and_resize" ? p.roi[rank + d] - p.roi[d] : 1.0;
      const double n = std::floor(static_cast<double>(x.shape()[d]) * crop * s[d]);
      if (!(n >= 0.0 && n < 9.0e18)) return absl::InvalidArgumentError("scales are too large");
      p.out_shape[d] = static_cast<int64_t>(n);
    }
  } else {
    return absl::InvalidArgumentError("one of scales and sizes is required");
  }
  RETURN_IF_ERROR(CheckAllocation(x.type(), p.out_shape));
  for (int64_t d = 0; d < rank; ++d) {
    if (x.shape()[d] == 0 && p.out_shape[d] > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resize the empty dimension ", d, " of ", ShapeString(x.shape())));
    }
  }
  return p;
}

absl::StatusOr<std::vector<Tensor>> RunResize(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  ASSIGN_OR_RETURN(ResizeAttributes a, ReadAttributes(node));
  ASSIGN_OR_RETURN(Plan p, PlanResize(node, in, a));
  const int64_t rank = in[0]->rank();
  // Shrinking dimensions first keeps the intermediates small.
  std::vector<int64_t> order(rank);
  for (int64_t d = 0; d < rank; ++d) order[d] = d;
  std::stable_sort(order.begin(), order.end(), [&](int64_t l, int64_t r) {
    return (p.out_shape[l] < in[0]->shape()[l]) > (p.out_shape[r] < in[0]->shape()[r]);
  });
  std::optional<Tensor> current;
  for (int64_t d : order) {
    const Tensor& x = current.has_value() ? *current : *in[0];
    const int64_t n_in = x.shape()[d];
    std::vector<Taps> taps;
    taps.reserve(p.out_shape[d]);
    for (int64_t o = 0; o < p.out_shape[d]; ++o) {
      const double c = SourceCoordinate(a.transform, o, p.scales[d], n_in, p.resized[d], p.roi[d],
                                        p.roi[rank + d]);
      taps.push_back(MakeTaps(a, c, n_in));
    }
    if (p.out_shape[d] == n_in && Identity(taps)) continue;
    Shape next = x.shape();
    next[d] = p.out_shape[d];
    RETURN_IF_ERROR(CheckAllocation(ElementType::kFloat32, next));
    current = ResizeDimension(x, static_cast<size_t>(d), taps, a.extrapolation);
  }
  return One(current.has_value() ? *std::move(current) : *in[0]);
}

}  // namespace

void RegisterResizeKernels(OpRegistry& registry) {
  registry.Register("Resize", {.min_inputs = 1,
                               .max_inputs = 4,
                               .max_outputs = 1,
                               .validate = ValidateResize,
                               .run = RunResize});
}

}  // namespace stoa::functions::onnx
