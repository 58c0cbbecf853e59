#include "functions/onnx/tensor.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"

namespace stoa::functions::onnxrt {

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
      return "FP32";
    case ElementType::kInt64:
      return "INT64";
  }
  return "?";
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape.begin(), shape.end(), ","), "]");
}

absl::StatusOr<int64_t> ElementCount(std::span<const int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(shape), " has a negative dimension"));
    }
    if (__builtin_mul_overflow(count, d, &count)) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(shape), " is too large"));
    }
  }
  return count;
}

namespace {
int64_t CheckedCount(const Shape& shape) {
  absl::StatusOr<int64_t> count = ElementCount(shape);
  STOA_CHECK(count.ok(), "tensor built with an invalid shape");
  return *count;
}
}  // namespace

Tensor::Tensor() : type_(ElementType::kFloat32), data_(std::vector<float>(1, 0.0f)) {}

Tensor Tensor::Zeros(Shape shape) {
  const int64_t n = CheckedCount(shape);
  return Float(std::move(shape), std::vector<float>(static_cast<size_t>(n), 0.0f));
}

Tensor Tensor::Float(Shape shape, std::vector<float> data) {
  STOA_CHECK(static_cast<int64_t>(data.size()) == CheckedCount(shape),
             "FP32 tensor data does not match its shape");
  Tensor t;
  t.type_ = ElementType::kFloat32;
  t.shape_ = std::move(shape);
  t.data_ = std::move(data);
  return t;
}

Tensor Tensor::Int64(Shape shape, std::vector<int64_t> data) {
  STOA_CHECK(static_cast<int64_t>(data.size()) == CheckedCount(shape),
             "INT64 tensor data does not match its shape");
  Tensor t;
  t.type_ = ElementType::kInt64;
  t.shape_ = std::move(shape);
  t.data_ = std::move(data);
  return t;
}

int64_t Tensor::size() const {
  return std::visit([](const auto& v) { return static_cast<int64_t>(v.size()); }, data_);
}

std::span<const float> Tensor::floats() const {
  STOA_CHECK(type_ == ElementType::kFloat32, "floats() on a non-FP32 tensor");
  return std::get<std::vector<float>>(data_);
}

std::span<float> Tensor::mutable_floats() {
  STOA_CHECK(type_ == ElementType::kFloat32, "mutable_floats() on a non-FP32 tensor");
  return std::get<std::vector<float>>(data_);
}

std::span<const int64_t> Tensor::int64s() const {
  STOA_CHECK(type_ == ElementType::kInt64, "int64s() on a non-INT64 tensor");
  return std::get<std::vector<int64_t>>(data_);
}

Tensor Tensor::Reshaped(Shape shape) const& {
  Tensor copy = *this;
  return std::move(copy).Reshaped(std::move(shape));
}

Tensor Tensor::Reshaped(Shape shape) && {
  STOA_CHECK(CheckedCount(shape) == size(), "Reshaped() changes the element count");
  shape_ = std::move(shape);
  return std::move(*this);
}

}  // namespace stoa::functions::onnxrt
