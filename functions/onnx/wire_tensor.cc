#include "functions/onnx/wire_tensor.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {
namespace {

// `t` already matches its signature: FP32, non-negative dimensions.
absl::StatusOr<Tensor> ToEngineTensor(const std::string& name, const v1::Tensor& t) {
  const std::string where = absl::StrCat("input '", name, "': ");
  const Shape shape(t.shape().begin(), t.shape().end());
  absl::StatusOr<int64_t> count = ElementCount(shape);
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

}  // namespace

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
    o.set_datatype(v1::FP32);
    for (int64_t d : t.shape()) o.add_shape(d);
    o.set_raw(reinterpret_cast<const char*>(t.floats().data()), t.floats().size_bytes());
  }
  return wire;
}

}  // namespace stoa::functions::onnx
