// The engine's in-memory tensor: a dense row-major buffer with a shape.
// Element types are the ones the engine computes with (FP32, FP64 where
// cheap) and the ones models use for shapes, indices and masks (INT64,
// INT32, BOOL). Math kernels take FP32; data-movement kernels (Transpose,
// Concat, Slice, Gather, ...) move elements of any type as bytes.
//
// Thread safety: a const Tensor may be read from any number of threads.
// Accessors for the wrong element type are broken invariants (STOA_CHECK);
// kernels check types with ExpectFloat/ExpectInt64 first.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/signature.h"  // ShapeString, found from this namespace

namespace stoa::functions::onnx {

using Shape = std::vector<int64_t>;

enum class ElementType { kFloat32, kInt64, kInt32, kBool, kFloat64, kUInt8, kInt8 };

// "FP32" / "INT64" / "INT32" / "BOOL" / "FP64" / "UINT8" / "INT8", for messages.
const char* ElementTypeName(ElementType type);
// Bytes per element (BOOL is one byte, 0 or 1).
size_t ElementSize(ElementType type);

// Product of the dimensions. INVALID_ARGUMENT for a negative dimension or
// when the product overflows int64.
absl::StatusOr<int64_t> ElementCount(std::span<const int64_t> shape);

class Tensor {
 public:
  // An FP32 scalar 0.
  Tensor();
  // Zero-filled FP32 tensor. The shape must be valid (ElementCount ok).
  static Tensor Zeros(Shape shape);
  // FP32 tensor whose elements are unspecified (a recycled buffer is not
  // cleared): for kernels that write every element of their output.
  static Tensor Uninitialized(Shape shape);
  // Zero-filled tensor of any element type.
  static Tensor Empty(ElementType type, Shape shape);
  // data.size() must equal the element count of shape.
  static Tensor Float(Shape shape, std::vector<float> data);
  static Tensor Int64(Shape shape, std::vector<int64_t> data);
  static Tensor Int32(Shape shape, std::vector<int32_t> data);
  static Tensor Bool(Shape shape, std::vector<uint8_t> data);  // 0 / 1
  static Tensor Float64(Shape shape, std::vector<double> data);
  static Tensor UInt8(Shape shape, std::vector<uint8_t> data);
  static Tensor Int8(Shape shape, std::vector<int8_t> data);

  ElementType type() const { return type_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size() const;  // element count

  std::span<const float> floats() const;
  std::span<float> mutable_floats();
  std::span<const int64_t> int64s() const;
  std::span<int64_t> mutable_int64s();
  std::span<const int32_t> int32s() const;
  std::span<const uint8_t> bools() const;
  std::span<uint8_t> mutable_bools();
  std::span<const double> float64s() const;
  std::span<const uint8_t> uint8s() const;
  std::span<const int8_t> int8s() const;

  // The buffer as bytes (size() * ElementSize(type()) of them).
  const uint8_t* raw() const;
  uint8_t* mutable_raw();

  // The FP32 buffer, leaving this tensor an empty FP32 vector; an empty
  // vector for other types. Lets the interpreter recycle dead buffers.
  std::vector<float> TakeFloatStorage() &&;

  // Same data, new shape with the same element count.
  Tensor Reshaped(Shape shape) const&;
  Tensor Reshaped(Shape shape) &&;

 private:
  ElementType type_;
  Shape shape_;
  std::variant<std::vector<float>, std::vector<int64_t>, std::vector<int32_t>, std::vector<uint8_t>,
               std::vector<double>, std::vector<int8_t>>
      data_;
};

// Recycled FP32 buffers. While a pool is in scope on a thread
// (ScopedBufferPool), Tensor::Zeros and Tensor::Empty(kFloat32) take a
// released buffer of sufficient capacity (smallest fit) instead of
// allocating, and the interpreter gives back intermediates after their last
// use. An OnnxFunction keeps its pools between invocations, so a steady
// stream of same-shaped requests runs without allocating intermediates.
//
// Thread safety: none; a pool serves one invocation at a time.
class BufferPool {
 public:
  explicit BufferPool(size_t max_buffers = 64) : max_buffers_(max_buffers) {}
  // n zeros, in a recycled buffer when one fits.
  std::vector<float> TakeZeros(size_t n);
  // n floats, unspecified where a recycled buffer already held values.
  std::vector<float> Take(size_t n);
  void Give(std::vector<float> buffer);
  int64_t reused() const { return reused_; }        // takes served from the pool
  int64_t allocated() const { return allocated_; }  // takes that allocated
  size_t size() const { return free_.size(); }

 private:
  size_t max_buffers_;
  std::multimap<size_t, std::vector<float>> free_;  // by capacity
  int64_t reused_ = 0;
  int64_t allocated_ = 0;
};

// Makes `pool` (may be null) the current thread's pool until destruction.
class ScopedBufferPool {
 public:
  explicit ScopedBufferPool(BufferPool* pool);
  ~ScopedBufferPool();
  ScopedBufferPool(const ScopedBufferPool&) = delete;
  ScopedBufferPool& operator=(const ScopedBufferPool&) = delete;

 private:
  BufferPool* previous_;
};

// The current thread's pool, or null.
BufferPool* CurrentBufferPool();

}  // namespace stoa::functions::onnx
