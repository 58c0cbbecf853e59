// Registration entry points of the CPU kernel files (Eigen, row-major).
// Each kernels_*.cc file registers its ops; DefaultOpRegistry calls them all.
#pragma once

#include "functions/onnx/op_registry.h"

namespace stoa::functions::onnxrt {

// Gemm, MatMul (kernels_linalg.cc).
void RegisterLinalgKernels(OpRegistry& registry);
// Add, Relu, Sigmoid, Tanh (kernels_elementwise.cc).
void RegisterElementwiseKernels(OpRegistry& registry);
// Softmax (kernels_softmax.cc).
void RegisterSoftmaxKernels(OpRegistry& registry);
// Flatten, Reshape, Identity (kernels_shape.cc).
void RegisterShapeKernels(OpRegistry& registry);

}  // namespace stoa::functions::onnxrt
