#include "functions/onnx/conv_geometry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {
namespace {

absl::Status Positive(const std::vector<int64_t>& v, const char* name, int64_t min) {
  for (int64_t x : v) {
    if (x < min) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute '", name, "' = ", ShapeString(v), " has a value below ", min));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateWindowAttributes(const Node& node, bool needs_kernel_shape) {
  const Attributes& a = node.attributes;
  ASSIGN_OR_RETURN(std::string auto_pad, a.GetString("auto_pad", "NOTSET"));
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID") {
    return absl::InvalidArgumentError(absl::StrCat("attribute 'auto_pad' = '", auto_pad,
                                                   "' is not NOTSET, SAME_UPPER, SAME_LOWER or "
                                                   "VALID"));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, a.GetInts("kernel_shape"));
  ASSIGN_OR_RETURN(std::vector<int64_t> strides, a.GetInts("strides"));
  ASSIGN_OR_RETURN(std::vector<int64_t> dilations, a.GetInts("dilations"));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, a.GetInts("pads"));
  if (needs_kernel_shape && kernel.empty()) {
    return absl::InvalidArgumentError("attribute 'kernel_shape' is required");
  }
  RETURN_IF_ERROR(Positive(kernel, "kernel_shape", 1));
  RETURN_IF_ERROR(Positive(strides, "strides", 1));
  RETURN_IF_ERROR(Positive(dilations, "dilations", 1));
  RETURN_IF_ERROR(Positive(pads, "pads", 0));
  if (!kernel.empty()) {
    const size_t n = kernel.size();
    if ((!strides.empty() && strides.size() != n) ||
        (!dilations.empty() && dilations.size() != n) || (!pads.empty() && pads.size() != 2 * n)) {
      return absl::InvalidArgumentError(
          "attributes kernel_shape, strides, dilations and pads disagree in length");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<WindowGeometry> ResolveWindow(const Node& node, std::vector<int64_t> in,
                                             std::vector<int64_t> kernel, bool ceil_mode) {
  const Attributes& a = node.attributes;
  const size_t n = in.size();
  WindowGeometry g;
  g.in = std::move(in);
  g.kernel = std::move(kernel);
  ASSIGN_OR_RETURN(std::string auto_pad, a.GetString("auto_pad", "NOTSET"));
  ASSIGN_OR_RETURN(g.stride, a.GetInts("strides"));
  ASSIGN_OR_RETURN(g.dilation, a.GetInts("dilations"));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, a.GetInts("pads"));
  if (g.stride.empty()) g.stride.assign(n, 1);
  if (g.dilation.empty()) g.dilation.assign(n, 1);
  if (pads.empty()) pads.assign(2 * n, 0);
  if (g.kernel.size() != n || g.stride.size() != n || g.dilation.size() != n ||
      pads.size() != 2 * n) {
    return absl::InvalidArgumentError(
        absl::StrCat("input has ", n, " spatial dimensions, kernel ", ShapeString(g.kernel),
                     ", strides ", ShapeString(g.stride), ", dilations ", ShapeString(g.dilation),
                     ", pads ", ShapeString(pads)));
  }
  g.pad_begin.assign(pads.begin(), pads.begin() + n);
  g.pad_end.assign(pads.begin() + n, pads.end());
  g.out.resize(n);
  for (size_t d = 0; d < n; ++d) {
    const int64_t extent = g.dilation[d] * (g.kernel[d] - 1) + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[d] = (g.in[d] + g.stride[d] - 1) / g.stride[d];
      const int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * g.stride[d] + extent - g.in[d]);
      g.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[d] = total - g.pad_begin[d];
      continue;
    }
    if (auto_pad == "VALID") g.pad_begin[d] = g.pad_end[d] = 0;
    const int64_t span = g.in[d] + g.pad_begin[d] + g.pad_end[d] - extent;
    if (span < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernel ", ShapeString(g.kernel), " (dilations ", ShapeString(g.dilation),
                       ") is larger than the padded input ", ShapeString(g.in)));
    }
    g.out[d] = (ceil_mode ? (span + g.stride[d] - 1) / g.stride[d] : span / g.stride[d]) + 1;
    if (ceil_mode && (g.out[d] - 1) * g.stride[d] >= g.in[d] + g.pad_begin[d]) --g.out[d];
  }
  return g;
}

}  // namespace stoa::functions::onnx
