// Between wire tensors (stoa::v1::Tensor) and engine Tensors, shared by the
// CPU runtime and the CUDA runtime.
//
// Datatypes: the engine computes with FP32, FP64, INT64, INT32 and BOOL,
// and a model's inputs and outputs may be any of them (WireType below);
// they cross unchanged. FP16 has no engine kernels: an FP16 tensor given
// for an FP32 input is widened to FP32 here (functions/signature.h accepts
// it), and outputs stay in the engine's type. UINT8 and INT8 are wire
// types only: a model port of those types is refused at load by the engine.
//
// RequestTensors: a request's tensors, matched against the function's
// declared inputs with functions::MatchInputs (by name; a single unnamed
// tensor for a single-input function; the declared datatype; the declared
// shape with -1 free), then checked for their byte count and copied once
// into engine buffers.
// Errors: INVALID_ARGUMENT naming the input, with expected and actual
// datatype or shape (functions::InputMismatchError, e.g. "input 'pixels':
// expected shape [-1,64], got [1,63]"), or the byte count ("input 'pixels':
// shape [1,64] needs 256 bytes of FP32 data, got 252").
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/tensor.h"
#include "functions/signature.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions::onnx {

// The wire datatype of an engine element type.
v1::DataType WireType(ElementType type);
// The engine element type of a wire datatype; nullopt for those the engine
// does not compute with (FP16, UINT8, INT8, unspecified).
std::optional<ElementType> EngineType(v1::DataType type);

// In `declared` order (the graph's input order: the loaded spec's inputs).
absl::StatusOr<std::vector<Tensor>> RequestTensors(const Signature& declared,
                                                   const std::vector<v1::Tensor>& given);

// An invocation's outputs (in graph output order, any engine type) as wire
// tensors named after `declared` (the loaded spec's outputs).
std::vector<v1::Tensor> ResponseTensors(const Signature& declared,
                                        const std::vector<Tensor>& outputs);

}  // namespace stoa::functions::onnx
