// Helpers shared by the kernel files: input type checks, axis handling,
// Eigen views over row-major buffers, numpy broadcasting.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "functions/onnx/node.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix>;
using MatrixMap = Eigen::Map<RowMajorMatrix>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;

// INVALID_ARGUMENT "input #i ('x') must be FP32, got INT64" unless inputs[i]
// is present and of that type.
absl::Status ExpectFloat(const Node& node, KernelInputs inputs, int i);
absl::Status ExpectInt64(const Node& node, KernelInputs inputs, int i);
// INVALID_ARGUMENT unless inputs[i] has the given rank.
absl::Status ExpectRank(const Node& node, KernelInputs inputs, int i, int64_t rank);

// Maps axis in [-rank, rank + extra) to [0, rank + extra); INVALID_ARGUMENT
// naming the attribute otherwise. `extra` is 1 for ops whose axis may equal
// the rank (Flatten).
absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, const char* attribute,
                                      int64_t extra = 0);

// Product of shape[begin, end).
int64_t DimProduct(std::span<const int64_t> shape, size_t begin, size_t end);

// numpy (multidirectional) broadcast of two shapes; INVALID_ARGUMENT
// "shapes [2,3] and [4] cannot be broadcast".
absl::StatusOr<Shape> BroadcastShapes(std::span<const int64_t> a, std::span<const int64_t> b);

// Row-major strides of `shape` as seen from `out_shape` after broadcasting:
// right-aligned, 0 for broadcast (size-1 or missing) dimensions.
std::vector<int64_t> BroadcastStrides(std::span<const int64_t> shape,
                                      std::span<const int64_t> out_shape);

// Calls fn(out_index, a_offset, b_offset) for every element of out_shape in
// row-major order, with a's and b's element offsets under broadcasting.
template <typename Fn>
void ForEachBroadcast(std::span<const int64_t> out_shape, std::span<const int64_t> a_strides,
                      std::span<const int64_t> b_strides, Fn fn) {
  const size_t rank = out_shape.size();
  const int64_t total = DimProduct(out_shape, 0, rank);
  std::vector<int64_t> index(rank, 0);
  int64_t a_off = 0, b_off = 0;
  for (int64_t i = 0; i < total; ++i) {
    fn(i, a_off, b_off);
    for (size_t d = rank; d-- > 0;) {
      ++index[d];
      a_off += a_strides[d];
      b_off += b_strides[d];
      if (index[d] < out_shape[d]) break;
      a_off -= a_strides[d] * index[d];
      b_off -= b_strides[d] * index[d];
      index[d] = 0;
    }
  }
}

}  // namespace stoa::functions::onnx

namespace stoa::functions::onnx {

// A one-element output list.
inline std::vector<Tensor> One(Tensor t) {
  std::vector<Tensor> out;
  out.push_back(std::move(t));
  return out;
}

// INVALID_ARGUMENT "input #i is missing" unless inputs[i] is present.
absl::Status ExpectPresent(KernelInputs inputs, int i);
// True when inputs[i] exists and is not omitted.
inline bool HasInput(KernelInputs inputs, int i) {
  return i < static_cast<int>(inputs.size()) && inputs[i] != nullptr;
}

// The values of an INT64 or INT32 tensor as int64 (shape/axes/pads inputs).
absl::StatusOr<std::vector<int64_t>> ReadInts(const Node& node, KernelInputs inputs, int i);

// Row-major strides of a shape.
std::vector<int64_t> Strides(std::span<const int64_t> shape);

// Calls fn(T{}) with T the C++ element type of `type` (uint8_t for BOOL and
// UINT8: kernels that treat BOOL as logical check the type, not T).
template <typename Fn>
auto VisitType(ElementType type, Fn fn) {
  switch (type) {
    case ElementType::kInt64:
      return fn(int64_t{});
    case ElementType::kInt32:
      return fn(int32_t{});
    case ElementType::kBool:
      return fn(uint8_t{});
    case ElementType::kFloat64:
      return fn(double{});
    case ElementType::kUInt8:
      return fn(uint8_t{});
    case ElementType::kInt8:
      return fn(int8_t{});
    case ElementType::kFloat32:
      break;
  }
  return fn(float{});
}

// Calls fn(T{}) with an unsigned integer type as wide as one element, for
// kernels that only move elements (Transpose, Concat, Gather, ...).
template <typename Fn>
auto VisitBits(ElementType type, Fn fn) {
  switch (ElementSize(type)) {
    case 1:
      return fn(uint8_t{});
    case 8:
      return fn(uint64_t{});
    default:
      break;
  }
  return fn(uint32_t{});
}

}  // namespace stoa::functions::onnx
