// Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) on FP32, any
// rank, modes nearest (nearest_mode round_prefer_floor, round_prefer_ceil,
// floor, ceil) and linear (N-linear), coordinate_transformation_mode
// half_pixel, pytorch_half_pixel, align_corners, asymmetric,
// tf_half_pixel_for_nn. cubic and tf_crop_and_resize are refused at load.
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

absl::Status ValidateResize(const Node& node) {
  ASSIGN_OR_RETURN(std::string mode, node.attributes.GetString("mode", "nearest"));
  RETURN_IF_ERROR(OneOf("mode", mode, {"nearest", "linear"}));
  ASSIGN_OR_RETURN(
      std::string transform,
      node.attributes.GetString("coordinate_transformation_mode", DefaultTransform(node)));
  RETURN_IF_ERROR(OneOf(
      "coordinate_transformation_mode", transform,
      {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"}));
  ASSIGN_OR_RETURN(std::string nearest,
                   node.attributes.GetString("nearest_mode", "round_prefer_floor"));
  RETURN_IF_ERROR(
      OneOf("nearest_mode", nearest, {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}));
  ASSIGN_OR_RETURN(int64_t exclude, node.attributes.GetInt("exclude_outside", 0));
  if (exclude != 0)
    return absl::InvalidArgumentError("attribute 'exclude_outside' is not supported");
  if (node.attributes.Has("antialias") || node.attributes.Has("axes")) {
    return absl::InvalidArgumentError("attributes 'antialias' and 'axes' are not supported");
  }
  return absl::OkStatus();
}

// `out` is the resized length: sizes[d], or in * scale when scales are given
// (align_corners uses it unrounded, as ONNX's reference does).
float SourceCoordinate(const std::string& transform, int64_t x, float scale, int64_t in,
                       float out) {
  const float xf = static_cast<float>(x);
  if (transform == "half_pixel") return (xf + 0.5f) / scale - 0.5f;
  if (transform == "pytorch_half_pixel") return out > 1.0f ? (xf + 0.5f) / scale - 0.5f : 0.0f;
  if (transform == "align_corners") {
    return out == 1.0f ? 0.0f : xf * static_cast<float>(in - 1) / (out - 1.0f);
  }
  if (transform == "tf_half_pixel_for_nn") return (xf + 0.5f) / scale;
  return xf / scale;  // asymmetric
}

int64_t Nearest(const std::string& mode, float x, int64_t in) {
  int64_t i;
  if (mode == "floor") {
    i = static_cast<int64_t>(std::floor(x));
  } else if (mode == "ceil") {
    i = static_cast<int64_t>(std::ceil(x));
  } else if (x - std::floor(x) == 0.5f) {
    i = static_cast<int64_t>(mode == "round_prefer_ceil" ? std::ceil(x) : std::floor(x));
  } else {
    i = static_cast<int64_t>(std::round(x));
  }
  return std::clamp<int64_t>(i, 0, in - 1);
}

// Nearest mode: output rows (innermost dimension) gathered from the source
// rows `src` picks per dimension, without per-element index decoding.
Tensor NearestGather(const Tensor& x, const Shape& out_shape,
                     const std::vector<std::vector<int64_t>>& src) {
  const size_t rank = out_shape.size();
  if (rank == 0) return x;
  Tensor y = Tensor::Zeros(out_shape);
  if (y.size() == 0) return y;
  const std::vector<int64_t> xs = Strides(x.shape());
  const int64_t row = out_shape[rank - 1];
  const std::vector<int64_t>& cols = src[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  const float* xv = x.floats().data();
  float* yv = y.mutable_floats().data();
  for (int64_t r = 0; r < y.size() / row; ++r) {
    int64_t off = 0;
    for (size_t d = 0; d + 1 < rank; ++d) off += src[d][idx[d]] * xs[d];
    for (int64_t o = 0; o < row; ++o) yv[r * row + o] = xv[off + cols[o]];
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

absl::StatusOr<std::vector<Tensor>> RunResize(const Node& node, KernelInputs in) {
  RETURN_IF_ERROR(ExpectFloat(node, in, 0));
  const Tensor& x = *in[0];
  const int64_t rank = x.rank();
  const int scales_input = node.opset < 11 ? 1 : 2;
  std::vector<float> scales(rank, 1.0f), resized(rank);
  Shape out_shape = x.shape();
  if (HasInput(in, 3) && in[3]->size() > 0) {
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ReadInts(node, in, 3));
    if (static_cast<int64_t>(sizes.size()) != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("sizes has ", sizes.size(), " entries for rank ", rank));
    }
    for (int64_t d = 0; d < rank; ++d) {
      out_shape[d] = sizes[d];
      scales[d] = static_cast<float>(sizes[d]) / static_cast<float>(x.shape()[d]);
      resized[d] = static_cast<float>(sizes[d]);
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
      scales[d] = s[d];
      resized[d] = static_cast<float>(x.shape()[d]) * s[d];
      out_shape[d] = static_cast<int64_t>(std::floor(resized[d]));
    }
  } else {
    return absl::InvalidArgumentError("one of scales and sizes is required");
  }
  RETURN_IF_ERROR(CheckAllocation(x.type(), out_shape));
  for (int64_t d = 0; d < rank; ++d) {
    if (x.shape()[d] == 0 && out_shape[d] > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resize the empty dimension ", d, " of ", ShapeString(x.shape())));
    }
  }
  ASSIGN_OR_RETURN(std::string mode, node.attributes.GetString("mode", "nearest"));
  ASSIGN_OR_RETURN(
      std::string transform,
      node.attributes.GetString("coordinate_transformation_mode", DefaultTransform(node)));
  ASSIGN_OR_RETURN(
      std::string nearest_mode,
      node.attributes.GetString("nearest_mode", node.opset < 11 ? "floor" : "round_prefer_floor"));
  // Per dimension and output index: source indices and weight of the upper one.
  std::vector<std::vector<int64_t>> lo(rank), hi(rank);
  std::vector<std::vector<float>> weight(rank);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t n_in = x.shape()[d];
    for (int64_t o = 0; o < out_shape[d]; ++o) {
      float c = SourceCoordinate(transform, o, scales[d], n_in, resized[d]);
      if (mode == "nearest") {
        lo[d].push_back(Nearest(nearest_mode, c, n_in));
        hi[d].push_back(lo[d].back());
        weight[d].push_back(0.0f);
      } else {
        c = std::clamp(c, 0.0f, static_cast<float>(n_in - 1));
        const int64_t i0 = static_cast<int64_t>(std::floor(c));
        lo[d].push_back(i0);
        hi[d].push_back(std::min(i0 + 1, n_in - 1));
        weight[d].push_back(c - static_cast<float>(i0));
      }
    }
  }
  if (mode == "nearest") return One(NearestGather(x, out_shape, lo));
  Tensor y = Tensor::Zeros(out_shape);
  const std::vector<int64_t> xs = Strides(x.shape());
  std::span<const float> xv = x.floats();
  std::span<float> yv = y.mutable_floats();
  std::vector<int64_t> idx(rank, 0);
  const int64_t corners = mode == "nearest" ? 1 : (int64_t{1} << rank);
  for (size_t i = 0; i < yv.size(); ++i) {
    float acc = 0.0f;
    for (int64_t c = 0; c < corners; ++c) {
      float w = 1.0f;
      int64_t off = 0;
      for (int64_t d = 0; d < rank; ++d) {
        const bool upper = (c >> d) & 1;
        const float wd = weight[d][idx[d]];
        w *= upper ? wd : 1.0f - wd;
        off += (upper ? hi[d][idx[d]] : lo[d][idx[d]]) * xs[d];
      }
      if (w != 0.0f) acc += w * xv[off];
    }
    yv[i] = acc;
    for (int64_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return One(std::move(y));
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
