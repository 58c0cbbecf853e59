// Renders KServe v2 (Open Inference Protocol) JSON responses:
//   {"model_name","model_version","id"?,"outputs":[{"name","shape",
//    "datatype","data":[…]}]}
// (requests: kserve_codec.h).
//
// Thread safety: every function is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

// Renders a response body. Only `requested` outputs (all when empty), in
// the order the function produced them. Floats are written in the shortest
// form that round-trips; NaN and infinities (which JSON lacks) as null.
// INTERNAL when a tensor's bytes do not match its shape and datatype, and
// when the text would pass `max_bytes` (0: no limit; the output size limit,
// common::OutputTooLarge): rendering stops there, so a small tensor output
// cannot become a huge response (a float is up to 15 characters of JSON).
absl::StatusOr<std::string> RenderInferResponse(
    std::string_view model_name, uint64_t model_version, std::string_view id,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs,
    const std::vector<std::string>& requested = {}, uint64_t max_bytes = 0);

}  // namespace stoa::gateway
