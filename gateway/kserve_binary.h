// The KServe v2 binary data extension as Triton implements it, on the HTTP
// infer routes (/v2/models/{name}/infer, /v1/functions/{name}/invoke).
//
// Request: the header `Inference-Header-Content-Length: N` says the body's
// first N bytes are the JSON request (kserve_codec.h); the rest is the raw
// little-endian bytes of the inputs that carry
// "parameters":{"binary_data_size":S}, in input order. Without the header
// the body is plain JSON.
// Response: outputs asked as binary ("parameters":{"binary_data_output":
// true} on the request, or "parameters":{"binary_data":true} on an output)
// are sent after the JSON the same way; the response then has
// `Inference-Header-Content-Length` and Content-Type
// application/octet-stream.
//
// Errors: INVALID_ARGUMENT naming the problem (a header that is not a
// decimal length, a length past the body, sizes that disagree with shapes
// or with the binary section's length).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_types.h"
#include "gateway/kserve_codec.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

// The request header's name, lower-case as common::HttpRequest keeps it.
inline constexpr char kInferenceHeaderLength[] = "inference-header-content-length";

// `header_length` is the Inference-Header-Content-Length value ("" when
// absent: a plain JSON body).
absl::StatusOr<InferRequest> ParseHttpInferRequest(std::string_view body,
                                                   std::string_view header_length,
                                                   uint32_t max_json_depth = 64);

// The response for `request` (JSON, or JSON plus binary outputs). Errors as
// RenderInferResponse (kserve_response.h).
absl::StatusOr<common::HttpResponse> RenderHttpInferResponse(
    std::string_view model_name, uint64_t model_version, const InferRequest& request,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs, uint64_t max_bytes = 0);

}  // namespace stoa::gateway
