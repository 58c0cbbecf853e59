// The KServe v2 (Open Inference Protocol) JSON codec of the invoke path:
// request bodies in, stoa::v1::Tensor out (responses: kserve_response.h;
// the binary data extension's framing: kserve_binary.h).
//
// Request:  {"id"?, "inputs":[{"name","shape":[…],"datatype":"FP32",
//            "data":[…] | "parameters":{"binary_data_size":N}}],
//            "outputs"?:[{"name","parameters"?:{"binary_data":bool}}],
//            "parameters"?:{"binary_data_output":bool,…}}
// `data` may be flat or nested to any depth; elements are taken in
// row-major order and their count must equal the product of `shape`.
// An input with `binary_data_size` has no `data`: its bytes are the next N
// bytes of the binary section that follows the JSON (ParseInferHeader).
//
// Datatypes: BOOL, UINT8, INT8, INT32, INT64, FP16, FP32, FP64
// (kserve_types.h). FP16 elements are JSON numbers rounded to half
// precision. BYTES is refused naming the input. Tensor bytes are
// little-endian, row-major (Tensor.raw).
//
// Errors are INVALID_ARGUMENT naming the problem and the input, e.g.
// "inputs[0] 'pixels': data has 63 elements, shape [1,64] needs 64" or
// "malformed JSON at byte 17: …".
//
// Thread safety: every function is thread-safe (parsing uses a
// thread-local simdjson parser).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/kserve_types.h"
#include "stoa/v1/function.pb.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

struct InferRequest {
  std::string id;  // "" when absent
  std::vector<v1::Tensor> inputs;
  std::vector<std::string> requested_outputs;  // empty: every output
  // "parameters":{"binary_data_output":true}: every output as binary data.
  bool binary_data_output = false;
  // Per output "parameters":{"binary_data":b}, overriding binary_data_output.
  std::map<std::string, bool> output_binary;

  // Whether output `name` is returned as binary data.
  bool WantsBinary(const std::string& name) const;
};

// Parses a request body (see above); an input with binary_data_size is
// refused (a plain JSON request carries no binary section). Nesting deeper
// than max_json_depth is refused by a pre-scan before any parser runs
// (common::CheckJsonDepth), so a body of 16 MB of '[' costs one pass and
// no memory.
absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body, uint32_t max_json_depth = 64);

// Parses the JSON header of a binary-extension request; the inputs with
// binary_data_size take their bytes from `binary` in input order. Each size
// must equal shape × element size, and together they must use `binary`
// exactly (errors name the input and both sizes).
absl::StatusOr<InferRequest> ParseInferHeader(std::string_view json, std::string_view binary,
                                              uint32_t max_json_depth = 64);

// Checks parsed inputs against a function's signature with the runtimes'
// own matching (functions/signature.h): every declared input present
// exactly once, no unknown input, same datatype (FP16 for FP32 is
// widened), same rank and equal dimensions (a signature dimension of -1
// matches any size). Also checks that every requested output exists.
// INVALID_ARGUMENT in KServe's terms, naming inputs[i], the expected and
// the actual datatype or shape.
absl::Status CheckAgainstSignature(const InferRequest& request, const v1::FunctionSpec& spec);

}  // namespace stoa::gateway
