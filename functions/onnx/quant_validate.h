// Load-time checks of the quantization ops' parameters (QuantizeLinear,
// DequantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv): what a malformed quantized model gets wrong is refused when
// the model is loaded, not on its first request.
//
// From what is known before any request (initializers and folded
// constants, and the types and shapes from ONNX shape inference), for each
// such node: quantized operands are UINT8/INT8; a zero point has its
// operand's type; scales are FP32, finite and > 0; a scale or zero point
// holds 1 value or one per channel of the axis the op quantizes along
// (rows or columns of a matmul operand, output maps of a convolution,
// `axis` of Quantize/DequantizeLinear), and a scale and its zero point agree;
// QLinearConv's bias is INT32 with one value per output map. What is not
// known at load (a computed scale) is checked by the kernel when it runs.
// (Zero points outside their type's range are refused earlier, when the
// initializer is read: tensor_proto.h.)
//
// Thread safety: a plain function of its argument.
#pragma once

#include "absl/status/status.h"
#include "functions/onnx/graph.h"

namespace stoa::functions::onnx {

// OK, or INVALID_ARGUMENT "node 'q1' (#3, QLinearConv): zero point
// 'w_zp' is UINT8; its data 'w' is INT8".
absl::Status CheckQuantizedNodes(const Graph& graph);

}  // namespace stoa::functions::onnx
