#include "functions/onnx/kernel_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {
namespace {

absl::Status ExpectType(const Node& node, KernelInputs inputs, int i, ElementType type) {
  const std::string name =
      i < static_cast<int>(node.input_names.size()) ? node.input_names[i] : std::string();
  if (i >= static_cast<int>(inputs.size()) || inputs[i] == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " is missing"));
  }
  if (inputs[i]->type() != type) {
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " ('", name, "') must be ",
                                                   ElementTypeName(type), ", got ",
                                                   ElementTypeName(inputs[i]->type())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExpectFloat(const Node& node, KernelInputs inputs, int i) {
  return ExpectType(node, inputs, i, ElementType::kFloat32);
}

absl::Status ExpectInt64(const Node& node, KernelInputs inputs, int i) {
  return ExpectType(node, inputs, i, ElementType::kInt64);
}

absl::Status ExpectRank(const Node& node, KernelInputs inputs, int i, int64_t rank) {
  if (inputs[i]->rank() != rank) {
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " ('", node.input_names[i],
                                                   "') must have rank ", rank, ", got shape ",
                                                   ShapeString(inputs[i]->shape())));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, const char* attribute,
                                      int64_t extra) {
  const int64_t limit = rank + extra;
  if (axis < -rank || axis >= limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("attribute '", attribute, "' = ", axis, " is out of range for rank ", rank));
  }
  return axis < 0 ? axis + rank : axis;
}

int64_t DimProduct(std::span<const int64_t> shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

absl::StatusOr<Shape> BroadcastShapes(std::span<const int64_t> a, std::span<const int64_t> b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("shapes ", ShapeString(a), " and ", ShapeString(b), " cannot be broadcast"));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> BroadcastStrides(std::span<const int64_t> shape,
                                      std::span<const int64_t> out_shape) {
  std::vector<int64_t> strides(out_shape.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    const size_t o = i + (out_shape.size() - shape.size());
    strides[o] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

}  // namespace stoa::functions::onnx

namespace stoa::functions::onnx {

absl::Status ExpectPresent(KernelInputs in, int i) {
  if (!HasInput(in, i))
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " is missing"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ReadInts(const Node& node, KernelInputs in, int i) {
  if (!HasInput(in, i))
    return absl::InvalidArgumentError(absl::StrCat("input #", i, " is missing"));
  const Tensor& t = *in[i];
  if (t.type() == ElementType::kInt64)
    return std::vector<int64_t>(t.int64s().begin(), t.int64s().end());
  if (t.type() == ElementType::kInt32)
    return std::vector<int64_t>(t.int32s().begin(), t.int32s().end());
  const std::string name =
      i < static_cast<int>(node.input_names.size()) ? node.input_names[i] : std::string();
  return absl::InvalidArgumentError(absl::StrCat(
      "input #", i, " ('", name, "') must be INT64 or INT32, got ", ElementTypeName(t.type())));
}

std::vector<int64_t> Strides(std::span<const int64_t> shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

}  // namespace stoa::functions::onnx
