// Registration entry points of the CPU kernel files (Eigen, row-major).
// Each kernels_*.cc file registers its ops; DefaultOpRegistry calls them all.
#pragma once

#include "functions/onnx/op_registry.h"

namespace stoa::functions::onnx {

// Gemm, MatMul (kernels_linalg.cc).
void RegisterLinalgKernels(OpRegistry& registry);
// Arithmetic, unary math/activations, Clip, Dropout, Cast
// (kernels_elementwise.cc); it also registers the comparisons, Max, Min and
// Where (kernels_compare.cc, RegisterCompareKernels).
void RegisterElementwiseKernels(OpRegistry& registry);
void RegisterCompareKernels(OpRegistry& registry);
// Softmax, LogSoftmax (kernels_softmax.cc).
void RegisterSoftmaxKernels(OpRegistry& registry);
// Flatten, Reshape, Identity, Squeeze, Unsqueeze, Shape, Constant,
// ConstantOfShape, Expand (kernels_shape.cc).
void RegisterShapeKernels(OpRegistry& registry);
// Transpose, Concat, Split, Slice, Gather, Pad (kernels_movement.cc).
void RegisterMovementKernels(OpRegistry& registry);
// Conv, ConvTranspose (kernels_conv.cc).
void RegisterConvKernels(OpRegistry& registry);
// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
// BatchNormalization (kernels_pool.cc).
void RegisterPoolKernels(OpRegistry& registry);
// ReduceMean, ReduceSum, ReduceMax (kernels_reduce.cc).
void RegisterReduceKernels(OpRegistry& registry);
// Resize (kernels_resize.cc).
void RegisterResizeKernels(OpRegistry& registry);
// If, Loop: control flow with subgraphs (kernels_control.cc).
void RegisterControlKernels(OpRegistry& registry);
// LSTM, GRU, RNN: recurrent layers (kernels_rnn.cc, kernels_lstm.cc,
// kernels_gru.cc).
void RegisterRnnKernels(OpRegistry& registry);
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear (kernels_quant.cc).
void RegisterQuantKernels(OpRegistry& registry);
// MatMulInteger, QLinearMatMul (kernels_qlinear.cc).
void RegisterQLinearKernels(OpRegistry& registry);
// ConvInteger, QLinearConv (kernels_qconv.cc).
void RegisterQConvKernels(OpRegistry& registry);

// The FP32 Conv kernel (kernels_conv.cc) with node's attributes: the
// integer convolutions run it on zero-point-shifted operands.
absl::StatusOr<std::vector<Tensor>> RunFp32Conv(const Node& node, KernelInputs inputs);

}  // namespace stoa::functions::onnx
