#include "functions/onnx/request_tensor.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {

absl::StatusOr<Tensor> ToEngineTensor(const GraphPort& port, const v1::Tensor& t) {
  const std::string where = absl::StrCat("input '", port.name, "': ");
  if (t.datatype() != v1::FP32) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "expected datatype FP32, got ", v1::DataType_Name(t.datatype())));
  }
  const Shape shape(t.shape().begin(), t.shape().end());
  bool match = shape.size() == port.shape.size();
  for (size_t d = 0; match && d < shape.size(); ++d) {
    match = shape[d] >= 0 && (port.shape[d] < 0 || port.shape[d] == shape[d]);
  }
  if (!match) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "expected shape ", ShapeString(port.shape), ", got ", ShapeString(shape)));
  }
  absl::StatusOr<int64_t> count = onnx::ElementCount(shape);
  if (!count.ok()) return absl::InvalidArgumentError(where + std::string(count.status().message()));
  if (*count > static_cast<int64_t>(t.raw().size() / sizeof(float)) ||
      t.raw().size() != static_cast<size_t>(*count) * sizeof(float)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "shape ", ShapeString(shape), " needs ",
                                                   *count * 4, " bytes of FP32 data, got ",
                                                   t.raw().size()));
  }
  std::vector<float> data(static_cast<size_t>(*count));
  if (!data.empty()) std::memcpy(data.data(), t.raw().data(), t.raw().size());
  return Tensor::Float(shape, std::move(data));
}

}  // namespace stoa::functions::onnx
