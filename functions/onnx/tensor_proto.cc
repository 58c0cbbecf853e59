#include "functions/onnx/tensor_proto.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {
namespace {

static_assert(std::endian::native == std::endian::little,
              "raw_data is little-endian; big-endian hosts need a byte swap here");

template <typename T, typename Field>
absl::StatusOr<std::vector<T>> ReadPayload(const ::onnx::TensorProto& proto, const Field& typed,
                                           int64_t count) {
  const std::string& name = proto.name();
  if (!proto.raw_data().empty()) {
    const std::string& raw = proto.raw_data();
    if (static_cast<int64_t>(raw.size()) != count * static_cast<int64_t>(sizeof(T))) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': raw_data has ",
                                                     raw.size(), " bytes, dims need ",
                                                     count * static_cast<int64_t>(sizeof(T))));
    }
    std::vector<T> out(static_cast<size_t>(count));
    if (count > 0) std::memcpy(out.data(), raw.data(), raw.size());
    return out;
  }
  if (typed.size() != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has ", typed.size(), " values, dims need ", count));
  }
  std::vector<T> out;
  out.reserve(static_cast<size_t>(count));
  for (const auto& v : typed) {
    // UINT8/INT8 values travel widened in int32_data: one that does not fit
    // (a zero point of 300) is a malformed model, not a value to wrap.
    if constexpr (std::is_integral_v<T> && sizeof(T) == 1) {
      if (proto.data_type() != ::onnx::TensorProto::BOOL &&
          (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': value ", v,
                                                       " is out of range for ",
                                                       OnnxDataTypeName(proto.data_type())));
      }
    }
    out.push_back(static_cast<T>(v));
  }
  return out;
}

}  // namespace

std::string OnnxDataTypeName(int32_t data_type) {
  if (::onnx::TensorProto_DataType_IsValid(data_type)) {
    return ::onnx::TensorProto_DataType_Name(static_cast<::onnx::TensorProto_DataType>(data_type));
  }
  return absl::StrCat("data type ", data_type);
}

absl::StatusOr<ElementType> ElementTypeFromOnnx(int32_t data_type) {
  switch (data_type) {
    case ::onnx::TensorProto::FLOAT:
      return ElementType::kFloat32;
    case ::onnx::TensorProto::DOUBLE:
      return ElementType::kFloat64;
    case ::onnx::TensorProto::INT64:
      return ElementType::kInt64;
    case ::onnx::TensorProto::INT32:
      return ElementType::kInt32;
    case ::onnx::TensorProto::BOOL:
      return ElementType::kBool;
    case ::onnx::TensorProto::UINT8:
      return ElementType::kUInt8;
    case ::onnx::TensorProto::INT8:
      return ElementType::kInt8;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "data type ", OnnxDataTypeName(data_type),
          " is not supported (supported: FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8, INT8)"));
  }
}

absl::StatusOr<Tensor> TensorFromProto(const ::onnx::TensorProto& proto) {
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", proto.name(), "' uses external data, which is not supported"));
  }
  if (proto.has_segment()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", proto.name(), "' is segmented, which is not supported"));
  }
  Shape shape(proto.dims().begin(), proto.dims().end());
  absl::StatusOr<int64_t> count = ElementCount(shape);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", proto.name(), "': ", std::string(count.status().message())));
  }
  switch (proto.data_type()) {
    case ::onnx::TensorProto::FLOAT: {
      absl::StatusOr<std::vector<float>> data =
          ReadPayload<float>(proto, proto.float_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::Float(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::INT64: {
      absl::StatusOr<std::vector<int64_t>> data =
          ReadPayload<int64_t>(proto, proto.int64_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::Int64(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::INT32: {
      absl::StatusOr<std::vector<int32_t>> data =
          ReadPayload<int32_t>(proto, proto.int32_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::Int32(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::BOOL: {
      absl::StatusOr<std::vector<uint8_t>> data =
          ReadPayload<uint8_t>(proto, proto.int32_data(), *count);
      if (!data.ok()) return data.status();
      for (uint8_t& b : *data) b = b != 0;
      return Tensor::Bool(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::DOUBLE: {
      absl::StatusOr<std::vector<double>> data =
          ReadPayload<double>(proto, proto.double_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::Float64(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::UINT8: {
      // Narrow types travel in int32_data when not raw.
      absl::StatusOr<std::vector<uint8_t>> data =
          ReadPayload<uint8_t>(proto, proto.int32_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::UInt8(std::move(shape), *std::move(data));
    }
    case ::onnx::TensorProto::INT8: {
      absl::StatusOr<std::vector<int8_t>> data =
          ReadPayload<int8_t>(proto, proto.int32_data(), *count);
      if (!data.ok()) return data.status();
      return Tensor::Int8(std::move(shape), *std::move(data));
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", proto.name(), "' has data type ", OnnxDataTypeName(proto.data_type()),
          "; supported: FLOAT, DOUBLE, INT64, INT32, BOOL, UINT8, INT8"));
  }
}

}  // namespace stoa::functions::onnx
