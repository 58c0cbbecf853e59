// Direct depthwise 2-D convolution: every output map reads exactly one
// input channel (Conv with group == input channels, any channel
// multiplier). MobileNet-style models spend most of their Conv nodes here;
// as im2col + GEMM each map would be a one-row GEMM over a copied window
// matrix, while the direct loop reads the input plane in place and
// accumulates whole output rows (contiguous, vectorised for stride 1).
//
// Thread safety: plain functions; DepthwiseConv2D splits its output maps
// over the calling thread's ParallelFor budget.
#pragma once

#include <cstdint>

#include "functions/onnx/activation.h"
#include "functions/onnx/conv_geometry.h"

namespace stoa::functions::onnx {

// True for a 2-D Conv whose every group has one input channel.
bool IsDepthwise2D(int64_t channels, int64_t group, const WindowGeometry& g);

// y (batch x maps x out) = depthwise conv of x (batch x channels x in) with
// w (maps x 1 x kernel), then + bias[m] (when bias is not null) and `act`.
// maps must be a multiple of channels (map m reads channel m / (maps /
// channels)). y is fully overwritten.
void DepthwiseConv2D(const float* x, const float* w, const float* bias, const Activation& act,
                     int64_t batch, int64_t channels, int64_t maps, const WindowGeometry& g,
                     float* y);

}  // namespace stoa::functions::onnx
