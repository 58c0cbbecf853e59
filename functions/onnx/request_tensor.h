// The one check of a request tensor against a graph input (datatype FP32,
// rank, fixed dimensions, byte size) and its conversion to an engine
// Tensor, shared by the CPU runtime and the CUDA runtime.
// Errors: INVALID_ARGUMENT naming the input, with expected and actual
// datatype or shape (e.g. "input 'pixels': expected shape [-1,64], got [1,63]").
#pragma once

#include "absl/status/statusor.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/tensor.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions::onnx {

absl::StatusOr<Tensor> ToEngineTensor(const GraphPort& port, const v1::Tensor& t);

}  // namespace stoa::functions::onnx
