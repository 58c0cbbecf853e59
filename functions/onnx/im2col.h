// im2col for Conv: the windows of a range of output positions laid out as
// the columns of a matrix (rows = channels x kernel positions), so that the
// convolution is one GEMM with the weights. 2-D (and 1-D, as 2-D of height
// 1) has a fast path that copies contiguous runs of a window row and fills
// padding with zeros; other ranks take a generic path.
//
// Thread safety: a plain function.
#pragma once

#include <cstdint>

#include "functions/onnx/conv_geometry.h"

namespace stoa::functions::onnx {

// Fills columns [0, end - begin) of col (channels * prod(kernel) rows, row
// stride ld) with the windows of output positions [begin, end) of x
// (channels planes of prod(g.in) values). Every element is written.
void Im2Col(const float* x, int64_t channels, const WindowGeometry& g, int64_t begin, int64_t end,
            float* col, int64_t ld);

}  // namespace stoa::functions::onnx
