#include "functions/onnx/wire_tensor.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/half.h"
#include "proto/stoa/v1/datatype.h"

namespace stoa::functions::onnx {
namespace {

// FP16 elements widened into an FP32 tensor.
Tensor WidenHalf(Shape shape, const std::string& raw, size_t count) {
  std::vector<float> data(count);
  for (size_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, raw.data() + 2 * i, sizeof(h));
    data[i] = common::HalfToFloat(h);
  }
  return Tensor::Float(std::move(shape), std::move(data));
}

// The elements of `raw` in a vector, copied once: no zero fill first.
template <typename T>
std::vector<T> CopyElements(const std::string& raw) {
  const size_t n = raw.size() / sizeof(T);
  if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(T) == 0) {
    const T* p = reinterpret_cast<const T*>(raw.data());
    return std::vector<T>(p, p + n);
  }
  std::vector<T> out(n);  // an unaligned buffer (not one protobuf allocates)
  if (n != 0) std::memcpy(out.data(), raw.data(), n * sizeof(T));
  return out;
}

// An engine tensor holding a copy of `raw` (its byte count already checked).
Tensor CopyIn(ElementType type, Shape shape, const std::string& raw) {
  switch (type) {
    case ElementType::kFloat32:
      return Tensor::Float(std::move(shape), CopyElements<float>(raw));
    case ElementType::kFloat64:
      return Tensor::Float64(std::move(shape), CopyElements<double>(raw));
    case ElementType::kInt64:
      return Tensor::Int64(std::move(shape), CopyElements<int64_t>(raw));
    case ElementType::kInt32:
      return Tensor::Int32(std::move(shape), CopyElements<int32_t>(raw));
    case ElementType::kUInt8:
      return Tensor::UInt8(std::move(shape), CopyElements<uint8_t>(raw));
    case ElementType::kInt8:
      return Tensor::Int8(std::move(shape), CopyElements<int8_t>(raw));
    case ElementType::kBool:
      break;
  }
  return Tensor::Bool(std::move(shape), std::vector<uint8_t>(raw.begin(), raw.end()));
}

// `t` already matches its signature: a declared datatype (or FP16 for
// FP32), non-negative dimensions.
absl::StatusOr<Tensor> ToEngineTensor(const std::string& name, const v1::Tensor& t) {
  const std::string where = absl::StrCat("input '", name, "': ");
  const Shape shape(t.shape().begin(), t.shape().end());
  absl::StatusOr<int64_t> count = ElementCount(shape);
  if (!count.ok()) return absl::InvalidArgumentError(where + std::string(count.status().message()));
  const size_t element = v1::DataTypeBytes(t.datatype());
  const std::optional<ElementType> type =
      t.datatype() == v1::FP16 ? std::optional(ElementType::kFloat32) : EngineType(t.datatype());
  if (!type.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "datatype ",
                                                   v1::DataType_Name(t.datatype()),
                                                   " is not one the engine computes with"));
  }
  if (static_cast<uint64_t>(*count) > t.raw().size() / element ||
      t.raw().size() != static_cast<size_t>(*count) * element) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "shape ", ShapeString(shape), " needs ", static_cast<uint64_t>(*count) * element,
        " bytes of ", v1::DataType_Name(t.datatype()), " data, got ", t.raw().size()));
  }
  if (t.datatype() == v1::FP16) return WidenHalf(shape, t.raw(), static_cast<size_t>(*count));
  return CopyIn(*type, shape, t.raw());
}

}  // namespace

v1::DataType WireType(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
      return v1::FP32;
    case ElementType::kFloat64:
      return v1::FP64;
    case ElementType::kInt64:
      return v1::INT64;
    case ElementType::kInt32:
      return v1::INT32;
    case ElementType::kBool:
      return v1::BOOL;
    case ElementType::kUInt8:
      return v1::UINT8;
    case ElementType::kInt8:
      return v1::INT8;
  }
  return v1::DATA_TYPE_UNSPECIFIED;
}

std::optional<ElementType> EngineType(v1::DataType type) {
  switch (type) {
    case v1::FP32:
      return ElementType::kFloat32;
    case v1::FP64:
      return ElementType::kFloat64;
    case v1::INT64:
      return ElementType::kInt64;
    case v1::INT32:
      return ElementType::kInt32;
    case v1::BOOL:
      return ElementType::kBool;
    case v1::UINT8:
      return ElementType::kUInt8;
    case v1::INT8:
      return ElementType::kInt8;
    default:
      return std::nullopt;
  }
}

absl::StatusOr<std::vector<Tensor>> RequestTensors(const Signature& declared,
                                                   const std::vector<v1::Tensor>& given) {
  const InputMatch match = MatchInputs(declared, given, {.unnamed_single_input = true});
  if (match.mismatch.has_value()) return InputMismatchError(*match.mismatch, declared, given);
  std::vector<Tensor> tensors;
  tensors.reserve(match.by_input.size());
  for (size_t i = 0; i < match.by_input.size(); ++i) {
    absl::StatusOr<Tensor> t =
        ToEngineTensor(declared[static_cast<int>(i)].name(), *match.by_input[i]);
    if (!t.ok()) return t.status();
    tensors.push_back(*std::move(t));
  }
  return tensors;
}

std::vector<v1::Tensor> ResponseTensors(const Signature& declared,
                                        const std::vector<Tensor>& outputs) {
  std::vector<v1::Tensor> wire(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    v1::Tensor& o = wire[i];
    o.set_name(declared[static_cast<int>(i)].name());
    o.set_datatype(WireType(t.type()));
    for (int64_t d : t.shape()) o.add_shape(d);
    // assign, not set_raw(p, n), which copies twice (through a temporary).
    o.mutable_raw()->assign(reinterpret_cast<const char*>(t.raw()),
                            static_cast<size_t>(t.size()) * ElementSize(t.type()));
  }
  return wire;
}

}  // namespace stoa::functions::onnx
