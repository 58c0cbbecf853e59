// UINT8 / INT8 through FP32 kernels whose result is one of their inputs'
// values (MaxPool, Clip, Relu): a quantized model keeps these ops on its
// 8-bit tensors between QLinearConv nodes. Every 8-bit value is exact in
// FP32 and these ops only select or bound values, so widening the 8-bit
// inputs, running the FP32 kernel and narrowing its FP32 outputs back to the
// first input's type gives exactly the integer op.
//
// Thread safety: a plain function of its arguments.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/node.h"

namespace stoa::functions::onnx {

// True for UINT8 and INT8.
bool IsNarrowInteger(ElementType type);

// Runs `fp32_run` on `in` with every UINT8/INT8 input widened to FP32, then
// narrows each FP32 output to in[0]'s type (other outputs, such as MaxPool's
// INT64 indices, are returned as they are). Precondition: in[0] is present
// and IsNarrowInteger(in[0]->type()).
absl::StatusOr<std::vector<Tensor>> RunWidened(
    const Node& node, KernelInputs in,
    absl::StatusOr<std::vector<Tensor>> (*fp32_run)(const Node&, KernelInputs));

}  // namespace stoa::functions::onnx
