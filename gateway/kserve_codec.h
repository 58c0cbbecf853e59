// The KServe v2 (Open Inference Protocol) JSON codec of the invoke path:
// request bodies in, stoa::v1::Tensor out (responses: kserve_response.h).
//
// Request:  {"id"?, "inputs":[{"name","shape":[…],"datatype":"FP32",
//            "data":[…]}], "outputs"?:[{"name"}], "parameters"?:{…}}
// `data` may be flat or nested to any depth; elements are taken in
// row-major order and their count must equal the product of `shape`.
// Response: {"model_name","model_version","id"?,"outputs":[{"name","shape",
//            "datatype","data":[…]}]}
//
// Supported datatypes: FP32, FP64, INT32, INT64, INT8, UINT8, BOOL. Tensor
// bytes are little-endian, row-major (Tensor.raw).
//
// Errors are INVALID_ARGUMENT naming the problem and the input, e.g.
// "inputs[0] 'pixels': data has 63 elements, shape [1,64] needs 64" or
// "malformed JSON at byte 17: …".
//
// Thread safety: every function is thread-safe (parsing uses a
// thread-local simdjson parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "stoa/v1/function.pb.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

struct InferRequest {
  std::string id;  // "" when absent
  std::vector<v1::Tensor> inputs;
  std::vector<std::string> requested_outputs;  // empty: every output
};

// Parses a request body (see above). Nesting deeper than max_json_depth is
// refused by a pre-scan before any parser runs (common::CheckJsonDepth), so
// a body of 16 MB of '[' costs one pass and no memory.
absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body, uint32_t max_json_depth = 64);

// Checks parsed inputs against a function's signature with the runtimes'
// own matching (functions/signature.h): every declared input present
// exactly once, no unknown input, same datatype, same rank and equal
// dimensions (a signature dimension of -1 matches any size). Also checks
// that every requested output exists. INVALID_ARGUMENT in KServe's terms,
// naming inputs[i], the expected and the actual datatype or shape.
absl::Status CheckAgainstSignature(const InferRequest& request, const v1::FunctionSpec& spec);

// KServe names ("FP32", …) of datatypes; "" for DATA_TYPE_UNSPECIFIED.
std::string_view DataTypeName(v1::DataType type);
// The datatype named `name`, nullopt when unknown.
std::optional<v1::DataType> ParseDataType(std::string_view name);
// Bytes per element, 0 for types this codec does not support (FP16).
size_t ElementSize(v1::DataType type);
// "[1,64]".
std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape);

}  // namespace stoa::gateway
