#include "gateway/kserve_types.h"

#include "absl/strings/str_cat.h"
#include "functions/signature.h"
#include "proto/stoa/v1/datatype.h"

namespace stoa::gateway {
namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 31;
constexpr v1::DataType kTypes[] = {v1::FP32,  v1::FP64, v1::INT32, v1::INT64,
                                   v1::UINT8, v1::INT8, v1::BOOL,  v1::FP16};

}  // namespace

std::string_view DataTypeName(v1::DataType type) {
  switch (type) {
    case v1::FP32:
      return "FP32";
    case v1::FP64:
      return "FP64";
    case v1::INT32:
      return "INT32";
    case v1::INT64:
      return "INT64";
    case v1::UINT8:
      return "UINT8";
    case v1::INT8:
      return "INT8";
    case v1::BOOL:
      return "BOOL";
    case v1::FP16:
      return "FP16";
    default:
      return "";
  }
}

std::optional<v1::DataType> ParseDataType(std::string_view name) {
  for (v1::DataType t : kTypes) {
    if (DataTypeName(t) == name) return t;
  }
  return std::nullopt;
}

absl::StatusOr<v1::DataType> ParseSupportedDataType(std::string_view name,
                                                    const std::string& what) {
  if (std::optional<v1::DataType> type = ParseDataType(name)) return *type;
  constexpr char kSupported[] = "(supported: BOOL, UINT8, INT8, INT32, INT64, FP16, FP32, FP64)";
  if (name == "BYTES") {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": datatype BYTES is not supported: models take numeric tensors ", kSupported));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": unsupported datatype '", std::string(name), "' ", kSupported));
}

size_t ElementSize(v1::DataType type) { return v1::DataTypeBytes(type); }

absl::StatusOr<uint64_t> TensorBytes(const google::protobuf::RepeatedField<int64_t>& shape,
                                     v1::DataType type, const std::string& what) {
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && count > kMaxElements / static_cast<uint64_t>(d))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": shape ", ShapeString(shape), " is too large"));
    }
    count *= static_cast<uint64_t>(d);
  }
  return count * ElementSize(type);
}

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  return functions::ShapeString({shape.data(), static_cast<size_t>(shape.size())});
}

}  // namespace stoa::gateway
