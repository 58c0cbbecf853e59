#include "functions/onnx/tensor.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace stoa::functions::onnx {

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
      return "FP32";
    case ElementType::kInt64:
      return "INT64";
    case ElementType::kInt32:
      return "INT32";
    case ElementType::kBool:
      return "BOOL";
    case ElementType::kFloat64:
      return "FP64";
    case ElementType::kUInt8:
      return "UINT8";
    case ElementType::kInt8:
      return "INT8";
  }
  return "?";
}

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
    case ElementType::kInt32:
      return 4;
    case ElementType::kInt64:
    case ElementType::kFloat64:
      return 8;
    case ElementType::kBool:
    case ElementType::kUInt8:
    case ElementType::kInt8:
      return 1;
  }
  return 1;
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

template <typename T>
std::span<const T> Get(const auto& data, bool ok, const char* what) {
  STOA_CHECK(ok, what);
  return std::get<std::vector<T>>(data);
}

}  // namespace

Tensor::Tensor() : type_(ElementType::kFloat32), data_(std::vector<float>(1, 0.0f)) {}

namespace {
thread_local BufferPool* current_pool = nullptr;
}  // namespace

BufferPool* CurrentBufferPool() { return current_pool; }

ScopedBufferPool::ScopedBufferPool(BufferPool* pool) : previous_(current_pool) {
  current_pool = pool;
}

ScopedBufferPool::~ScopedBufferPool() { current_pool = previous_; }

std::vector<float> BufferPool::TakeZeros(size_t n) {
  auto it = free_.lower_bound(n);
  if (it == free_.end() || n == 0) {
    ++allocated_;
    return std::vector<float>(n, 0.0f);
  }
  std::vector<float> v = std::move(it->second);
  free_.erase(it);
  v.assign(n, 0.0f);
  ++reused_;
  return v;
}

std::vector<float> BufferPool::Take(size_t n) {
  auto it = free_.lower_bound(n);
  if (it == free_.end() || n == 0) {
    ++allocated_;
    return std::vector<float>(n);
  }
  std::vector<float> v = std::move(it->second);
  free_.erase(it);
  v.resize(n);  // only elements past the old size are written
  ++reused_;
  return v;
}

void BufferPool::Give(std::vector<float> buffer) {
  if (buffer.capacity() == 0) return;
  free_.emplace(buffer.capacity(), std::move(buffer));
  if (free_.size() > max_buffers_) free_.erase(free_.begin());  // drop the smallest
}

Tensor Tensor::Zeros(Shape shape) {
  const size_t n = static_cast<size_t>(CheckedCount(shape));
  if (current_pool != nullptr) return Float(std::move(shape), current_pool->TakeZeros(n));
  return Float(std::move(shape), std::vector<float>(n, 0.0f));
}

Tensor Tensor::Uninitialized(Shape shape) {
  const size_t n = static_cast<size_t>(CheckedCount(shape));
  if (current_pool != nullptr) return Float(std::move(shape), current_pool->Take(n));
  return Float(std::move(shape), std::vector<float>(n));
}

std::vector<float> Tensor::TakeFloatStorage() && {
  if (type_ != ElementType::kFloat32) return {};
  std::vector<float> v = std::move(std::get<std::vector<float>>(data_));
  shape_ = {0};
  data_ = std::vector<float>();
  return v;
}

Tensor Tensor::Empty(ElementType type, Shape shape) {
  const size_t n = static_cast<size_t>(CheckedCount(shape));
  switch (type) {
    case ElementType::kFloat32:
      return Zeros(std::move(shape));
    case ElementType::kInt64:
      return Int64(std::move(shape), std::vector<int64_t>(n));
    case ElementType::kInt32:
      return Int32(std::move(shape), std::vector<int32_t>(n));
    case ElementType::kBool:
      return Bool(std::move(shape), std::vector<uint8_t>(n));
    case ElementType::kFloat64:
      return Float64(std::move(shape), std::vector<double>(n));
    case ElementType::kUInt8:
      return UInt8(std::move(shape), std::vector<uint8_t>(n));
    case ElementType::kInt8:
      return Int8(std::move(shape), std::vector<int8_t>(n));
  }
  return Tensor();
}

#define STOA_TENSOR_FACTORY(Name, T, Kind)                               \
  Tensor Tensor::Name(Shape shape, std::vector<T> data) {                \
    STOA_CHECK(static_cast<int64_t>(data.size()) == CheckedCount(shape), \
               #Name " tensor data does not match its shape");           \
    Tensor t;                                                            \
    t.type_ = ElementType::Kind;                                         \
    t.shape_ = std::move(shape);                                         \
    t.data_ = std::move(data);                                           \
    return t;                                                            \
  }
STOA_TENSOR_FACTORY(Float, float, kFloat32)
STOA_TENSOR_FACTORY(Int64, int64_t, kInt64)
STOA_TENSOR_FACTORY(Int32, int32_t, kInt32)
STOA_TENSOR_FACTORY(Bool, uint8_t, kBool)
STOA_TENSOR_FACTORY(Float64, double, kFloat64)
STOA_TENSOR_FACTORY(UInt8, uint8_t, kUInt8)
STOA_TENSOR_FACTORY(Int8, int8_t, kInt8)
#undef STOA_TENSOR_FACTORY

int64_t Tensor::size() const {
  return std::visit([](const auto& v) { return static_cast<int64_t>(v.size()); }, data_);
}

std::span<const float> Tensor::floats() const {
  return Get<float>(data_, type_ == ElementType::kFloat32, "floats() on a non-FP32 tensor");
}

std::span<float> Tensor::mutable_floats() {
  STOA_CHECK(type_ == ElementType::kFloat32, "mutable_floats() on a non-FP32 tensor");
  return std::get<std::vector<float>>(data_);
}

std::span<const int64_t> Tensor::int64s() const {
  return Get<int64_t>(data_, type_ == ElementType::kInt64, "int64s() on a non-INT64 tensor");
}

std::span<int64_t> Tensor::mutable_int64s() {
  STOA_CHECK(type_ == ElementType::kInt64, "mutable_int64s() on a non-INT64 tensor");
  return std::get<std::vector<int64_t>>(data_);
}

std::span<const int32_t> Tensor::int32s() const {
  return Get<int32_t>(data_, type_ == ElementType::kInt32, "int32s() on a non-INT32 tensor");
}

std::span<const uint8_t> Tensor::bools() const {
  return Get<uint8_t>(data_, type_ == ElementType::kBool, "bools() on a non-BOOL tensor");
}

std::span<uint8_t> Tensor::mutable_bools() {
  STOA_CHECK(type_ == ElementType::kBool, "mutable_bools() on a non-BOOL tensor");
  return std::get<std::vector<uint8_t>>(data_);
}

std::span<const double> Tensor::float64s() const {
  return Get<double>(data_, type_ == ElementType::kFloat64, "float64s() on a non-FP64 tensor");
}

std::span<const uint8_t> Tensor::uint8s() const {
  return Get<uint8_t>(data_, type_ == ElementType::kUInt8, "uint8s() on a non-UINT8 tensor");
}

std::span<const int8_t> Tensor::int8s() const {
  return Get<int8_t>(data_, type_ == ElementType::kInt8, "int8s() on a non-INT8 tensor");
}

const uint8_t* Tensor::raw() const {
  return std::visit([](const auto& v) { return reinterpret_cast<const uint8_t*>(v.data()); },
                    data_);
}

uint8_t* Tensor::mutable_raw() {
  return std::visit([](auto& v) { return reinterpret_cast<uint8_t*>(v.data()); }, data_);
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

}  // namespace stoa::functions::onnx
