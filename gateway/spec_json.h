// The JSON form of a function spec in the REST API (DESIGN.md § REST API):
//   {"name","runtime":"onnx"|"wasm","tiers":["edge","cloud"],"slo_ms",
//    "batching":{"max_batch","max_delay_us"},
//    "limits":{"timeout_ms","memory_mb"},"description","content_type","tenant",
//    "stages":[{"function","tier"}]}  (runtime "pipeline": gateway/pipeline_spec.h)
// (content_type: the media type of a wasm function's raw response; the
// runtime defaults it to application/octet-stream; tenant: the owning
// tenant, which the REST layer sets from the caller, gateway/access_control.h)
// and the stored function as the API returns it (the same plus version,
// sha256 and the inputs/outputs signature).
//
// Parsing is strict: every field is checked for type and range, unknown
// fields (at any level) and fields the gateway derives (version, sha256,
// inputs, outputs) are INVALID_ARGUMENT naming them. tiers defaults to
// ["edge","cloud"]. description is at most limits.max_description_bytes
// (kMaxDescriptionBytes by default; it is returned with every listing).
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/request_limits.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {
inline constexpr size_t kMaxDescriptionBytes = 4096;
}  // namespace stoa::gateway

namespace stoa::gateway {

// Parses a spec document. When `artifact_base64` is not null the field
// "artifact_base64" (a string) is accepted too and returned there; likewise
// "source" (a file:/// URI, gateway/artifact_source.h) with `source`.
// `limits` (the operator's): the document's nesting (checked before it is
// parsed), limits.timeout_ms and the description length.
absl::StatusOr<v1::FunctionSpec> ParseFunctionSpec(
    std::string_view json, std::optional<std::string>* artifact_base64 = nullptr,
    const common::RequestLimits& limits = {}, std::optional<std::string>* source = nullptr);

// The stored function as JSON (every field, signature included).
nlohmann::json FunctionSpecToJson(const v1::FunctionSpec& spec);

// {"name","datatype","shape"} entries of a signature.
nlohmann::json SignatureToJson(
    const google::protobuf::RepeatedPtrField<v1::TensorSignature>& signature);

}  // namespace stoa::gateway
