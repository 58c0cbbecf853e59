// Spatial geometry shared by Conv, ConvTranspose and the pooling ops: the
// kernel, strides, dilations and pads of an N-d window op, resolved from
// the node's attributes (including auto_pad) and the input's spatial dims.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/node.h"

namespace stoa::functions::onnx {

struct WindowGeometry {
  std::vector<int64_t> in, kernel, out, stride, dilation, pad_begin, pad_end;
  int64_t spatial() const { return static_cast<int64_t>(in.size()); }
};

// Checks the attributes of a windowed op at load: auto_pad is NOTSET,
// SAME_UPPER, SAME_LOWER or VALID; strides, dilations > 0; pads >= 0;
// the list attributes agree in length. `needs_kernel_shape` for pools.
absl::Status ValidateWindowAttributes(const Node& node, bool needs_kernel_shape);

// Resolves the geometry of a forward window op (Conv, pools) over `in`
// (the spatial dims) with `kernel` (from kernel_shape or the weights).
// ceil_mode rounds the output size up (a window starting in the end
// padding is dropped, as in PyTorch). INVALID_ARGUMENT when the output
// would be empty or the lengths disagree.
absl::StatusOr<WindowGeometry> ResolveWindow(const Node& node, std::vector<int64_t> in,
                                             std::vector<int64_t> kernel, bool ceil_mode);

}  // namespace stoa::functions::onnx
