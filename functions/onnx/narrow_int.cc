#include "functions/onnx/narrow_int.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/status_macros.h"
#include "functions/onnx/broadcast.h"

namespace stoa::functions::onnx {
namespace {

Tensor Widen(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.size()));
  if (t.type() == ElementType::kUInt8) {
    std::copy(t.uint8s().begin(), t.uint8s().end(), v.begin());
  } else {
    std::copy(t.int8s().begin(), t.int8s().end(), v.begin());
  }
  return Tensor::Float(t.shape(), std::move(v));
}

template <typename T>
Tensor Narrow(const Tensor& t, ElementType type) {
  Tensor out = Tensor::Empty(type, t.shape());
  std::span<T> ov = MutableView<T>(out);
  const std::span<const float> iv = t.floats();
  constexpr float lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  for (size_t i = 0; i < ov.size(); ++i) ov[i] = static_cast<T>(std::clamp(iv[i], lo, hi));
  return out;
}

}  // namespace

bool IsNarrowInteger(ElementType type) {
  return type == ElementType::kUInt8 || type == ElementType::kInt8;
}

absl::StatusOr<std::vector<Tensor>> RunWidened(
    const Node& node, KernelInputs in,
    absl::StatusOr<std::vector<Tensor>> (*fp32_run)(const Node&, KernelInputs)) {
  std::vector<Tensor> widened;
  widened.reserve(in.size());
  std::vector<const Tensor*> args(in.begin(), in.end());
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != nullptr && IsNarrowInteger(args[i]->type())) {
      widened.push_back(Widen(*args[i]));
      args[i] = &widened.back();
    }
  }
  const ElementType type = in[0]->type();
  ASSIGN_OR_RETURN(std::vector<Tensor> out, fp32_run(node, args));
  for (Tensor& t : out) {
    if (t.type() != ElementType::kFloat32) continue;
    t = type == ElementType::kUInt8 ? Narrow<uint8_t>(t, type) : Narrow<int8_t>(t, type);
  }
  return out;
}

}  // namespace stoa::functions::onnx
