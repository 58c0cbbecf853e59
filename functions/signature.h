// The one matching of request tensors against a function's declared inputs
// (the v1::TensorSignature list of its FunctionSpec): the gateway checks a
// KServe request with it before dispatch, and the ONNX runtimes (CPU and
// CUDA) check an invocation with it before they run.
//
// A tensor matches an input when the names are equal, the datatype is the
// declared one (DATA_TYPE_UNSPECIFIED declares any), the rank is the
// declared rank and every dimension is >= 0 and equal to the declared one
// (-1 declares any size). Every declared input must be given exactly once
// and no other tensor may be given.
//
// MatchInputs only finds the mismatch; each caller words it for its own
// protocol (the gateway in KServe's terms, naming inputs[i]; the runtimes
// with InputMismatchError below), so their messages stay what clients
// already see.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "stoa/v1/function.pb.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::functions {

using Signature = google::protobuf::RepeatedPtrField<v1::TensorSignature>;

struct SignatureMismatch {
  enum class Kind { kUnknownInput, kDuplicateInput, kMissingInput, kDatatype, kShape };
  Kind kind = Kind::kUnknownInput;
  size_t given = 0;     // index of the tensor (all kinds but kMissingInput)
  size_t declared = 0;  // index of the input (all kinds but kUnknownInput)
};

struct MatchOptions {
  // A single tensor with an empty name binds to the only declared input
  // (the runtimes accept this; KServe requests always name their inputs).
  bool unnamed_single_input = false;
};

struct InputMatch {
  // For each declared input, in declared order, the tensor bound to it
  // (pointers into `given`); only complete when `mismatch` is empty.
  std::vector<const v1::Tensor*> by_input;
  // The first mismatch: tensors are checked in the order given (unknown or
  // duplicate name, then datatype, then shape), then missing inputs in
  // declared order.
  std::optional<SignatureMismatch> mismatch;
};

InputMatch MatchInputs(const Signature& declared, std::span<const v1::Tensor> given,
                       MatchOptions options = {});

// The runtimes' wording of a mismatch (INVALID_ARGUMENT), e.g.
//   "unexpected input 'img' (the function takes 'pixels')"
//   "input 'pixels' is given twice"
//   "missing input 'pixels' (FP32 [-1,64])"
//   "input 'pixels': expected datatype FP32, got INT64"
//   "input 'pixels': expected shape [-1,64], got [1,63]"
absl::Status InputMismatchError(const SignatureMismatch& mismatch, const Signature& declared,
                                std::span<const v1::Tensor> given);

// "'a', 'b'": the declared input names, for messages.
std::string InputNames(const Signature& declared);

// "[1,64]".
std::string ShapeString(std::span<const int64_t> shape);

}  // namespace stoa::functions
