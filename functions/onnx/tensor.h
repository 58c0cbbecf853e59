// The engine's in-memory tensor: a dense row-major buffer with a shape.
// Element types are the ones the engine computes with (FP32) and the ones
// models use for shapes and indices (INT64).
//
// Thread safety: a const Tensor may be read from any number of threads.
// Accessors for the wrong element type are broken invariants (STOA_CHECK);
// kernels check types with ExpectFloat/ExpectInt64 first.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::functions::onnxrt {

using Shape = std::vector<int64_t>;

enum class ElementType { kFloat32, kInt64 };

// "FP32" / "INT64", for messages.
const char* ElementTypeName(ElementType type);

// "[2,3]"; dynamic dimensions print as -1.
std::string ShapeString(std::span<const int64_t> shape);

// Product of the dimensions. INVALID_ARGUMENT for a negative dimension or
// when the product overflows int64.
absl::StatusOr<int64_t> ElementCount(std::span<const int64_t> shape);

class Tensor {
 public:
  // An FP32 scalar 0.
  Tensor();
  // Zero-filled FP32 tensor. The shape must be valid (ElementCount ok).
  static Tensor Zeros(Shape shape);
  // data.size() must equal the element count of shape.
  static Tensor Float(Shape shape, std::vector<float> data);
  static Tensor Int64(Shape shape, std::vector<int64_t> data);

  ElementType type() const { return type_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size() const;  // element count

  std::span<const float> floats() const;
  std::span<float> mutable_floats();
  std::span<const int64_t> int64s() const;

  // Same data, new shape with the same element count.
  Tensor Reshaped(Shape shape) const&;
  Tensor Reshaped(Shape shape) &&;

 private:
  ElementType type_;
  Shape shape_;
  std::variant<std::vector<float>, std::vector<int64_t>> data_;
};

}  // namespace stoa::functions::onnxrt
