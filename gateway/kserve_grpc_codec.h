// Between the KServe v2 gRPC messages (proto/inference/grpc_service.proto)
// and the gateway's InferRequest / wire tensors (kserve_codec.h), for the
// gRPC inference service (kserve_grpc_service.h).
//
// Inputs carry their data either all in `raw_input_contents` (one entry
// per input, in input order, little-endian row-major; FP16 only so) or each
// in its typed `contents` (fp32_contents for FP32, int64_contents for
// INT64, int_contents for INT8/INT32, uint_contents for UINT8,
// bool_contents for BOOL, fp64_contents for FP64). Datatypes as the HTTP
// codec (kserve_types.h); BYTES is refused naming the input.
// Outputs are answered in raw_output_contents, as Triton does.
//
// Errors: INVALID_ARGUMENT naming inputs[i] and the problem (a byte count
// that disagrees with shape × element size, a typed value out of range, a
// count of raw contents that is not the count of inputs).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/kserve_codec.h"
#include "inference/grpc_service.pb.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::gateway {

// Decodes `request`, moving its raw contents out (the one copy from the
// wire was protobuf's parse).
absl::StatusOr<InferRequest> DecodeModelInfer(inference::ModelInferRequest& request);

// Fills `response` from the function's outputs (only the requested ones,
// all when none are), moving their bytes. INTERNAL when an output's bytes
// do not match its shape and datatype.
absl::Status EncodeModelInfer(std::string_view model_name, uint64_t model_version,
                              const InferRequest& request, v1::InvokeResponse& outputs,
                              inference::ModelInferResponse& response);

}  // namespace stoa::gateway
