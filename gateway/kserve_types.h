// KServe v2 datatype names and sizes, shared by the JSON codec
// (kserve_codec.h), the binary extension (kserve_binary.h) and the gRPC
// inference service (kserve_grpc_service.h).
//
// Datatypes: BOOL, UINT8, INT8, INT32, INT64, FP16, FP32, FP64. BYTES
// (strings) is a KServe datatype Stoa refuses: ParseDataType knows its
// name so that the refusal can say so.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "stoa/v1/tensor.pb.h"

namespace stoa::gateway {

// KServe names ("FP32", …) of datatypes; "" for DATA_TYPE_UNSPECIFIED.
std::string_view DataTypeName(v1::DataType type);
// The datatype named `name`, nullopt when unknown.
std::optional<v1::DataType> ParseDataType(std::string_view name);
// As ParseDataType, but INVALID_ARGUMENT "<what>: datatype BYTES is not
// supported (…)" / "<what>: unsupported datatype 'X' (supported: …)".
absl::StatusOr<v1::DataType> ParseSupportedDataType(std::string_view name, const std::string& what);
// Bytes per element; 0 for DATA_TYPE_UNSPECIFIED.
size_t ElementSize(v1::DataType type);
// Elements times ElementSize(type), checked: INVALID_ARGUMENT "<what>:
// shape [..] is too large" past 2^31 elements or on a negative dimension.
absl::StatusOr<uint64_t> TensorBytes(const google::protobuf::RepeatedField<int64_t>& shape,
                                     v1::DataType type, const std::string& what);
// "[1,64]".
std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape);

}  // namespace stoa::gateway
