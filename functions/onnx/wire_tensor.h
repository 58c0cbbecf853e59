// Between wire tensors (stoa::v1::Tensor) and engine Tensors, shared by the
// CPU runtime and the CUDA runtime.
//
// RequestTensors: a request's tensors, matched against the function's declared inputs with
// functions::MatchInputs (by name; a single unnamed tensor for a
// single-input function; FP32; the declared shape with -1 free), then
// checked for their byte count and copied.
// Errors: INVALID_ARGUMENT naming the input, with expected and actual
// datatype or shape (functions::InputMismatchError, e.g. "input 'pixels':
// expected shape [-1,64], got [1,63]"), or the byte count ("input 'pixels':
// shape [1,64] needs 256 bytes of FP32 data, got 252").
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/tensor.h"
#include "functions/signature.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions::onnx {

// In `declared` order (the graph's input order: the loaded spec's inputs).
absl::StatusOr<std::vector<Tensor>> RequestTensors(const Signature& declared,
                                                   const std::vector<v1::Tensor>& given);

// An invocation's outputs (FP32, in graph output order) as wire tensors
// named after `declared` (the loaded spec's outputs).
std::vector<v1::Tensor> ResponseTensors(const Signature& declared,
                                        const std::vector<Tensor>& outputs);

}  // namespace stoa::functions::onnx
