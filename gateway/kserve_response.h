// Renders KServe v2 (Open Inference Protocol) JSON responses:
//   {"model_name","model_version","id"?,"outputs":[{"name","shape",
//    "datatype","data":[…]}]}
// (requests: kserve_codec.h); FP16 outputs are written as numbers.
//
// Thread safety: every function is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/kserve_codec.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

// Renders a response body. Only `requested` outputs (all when empty), in
// the order the function produced them. Floats are written in the shortest
// form that round-trips; NaN and infinities (which JSON lacks) as null.
// INTERNAL when a tensor's bytes do not match its shape and datatype;
// RESOURCE_EXHAUSTED (common::OutputTooLarge, HTTP 507) when the text would
// pass `max_bytes` (0: no limit; the output size limit): rendering stops there, so a small tensor
// output cannot become a huge response (a float is up to 15 characters of JSON).
absl::StatusOr<std::string> RenderInferResponse(
    std::string_view model_name, uint64_t model_version, std::string_view id,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs,
    const std::vector<std::string>& requested = {}, uint64_t max_bytes = 0);

struct RenderedResponse {
  std::string body;
  // The JSON's length when binary outputs follow it (the
  // Inference-Header-Content-Length response header); 0 for plain JSON.
  size_t json_bytes = 0;
};

// As above, with the binary data extension: each output that `request`
// asks as binary data (InferRequest::WantsBinary) carries
// "parameters":{"binary_data_size":N} instead of "data", and its bytes
// (little-endian, row-major) follow the JSON in output order, copied once.
// `max_bytes` bounds the whole body.
absl::StatusOr<RenderedResponse> RenderInferResponse(
    std::string_view model_name, uint64_t model_version, const InferRequest& request,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs, uint64_t max_bytes = 0);

}  // namespace stoa::gateway
