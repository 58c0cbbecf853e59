#include "functions/onnx/interpreter.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace stoa::functions::onnx {
namespace {

absl::Status CheckOutput(const GraphPort& port, const Tensor& t) {
  if (t.type() != port.type) {
    return absl::InternalError(absl::StrCat("output '", port.name, "' is ",
                                            ElementTypeName(t.type()), ", the model declares ",
                                            ElementTypeName(port.type)));
  }
  if (!port.has_shape) return absl::OkStatus();
  bool match = t.rank() == static_cast<int64_t>(port.shape.size());
  for (size_t d = 0; match && d < port.shape.size(); ++d) {
    match = port.shape[d] < 0 || port.shape[d] == t.shape()[d];
  }
  if (!match) {
    return absl::InternalError(absl::StrCat("output '", port.name, "' has shape ",
                                            ShapeString(t.shape()), ", the model declares ",
                                            ShapeString(port.shape)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& graph, std::vector<Tensor> inputs,
                                             const common::Clock& clock, int64_t deadline_us) {
  if (inputs.size() != graph.inputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph takes ", graph.inputs.size(), " inputs, got ", inputs.size()));
  }
  const size_t n_values = graph.value_names.size();
  std::vector<const Tensor*> env(n_values, nullptr);
  std::vector<std::optional<Tensor>> owned(n_values);
  for (size_t v = 0; v < n_values; ++v) {
    if (graph.constants[v].has_value()) env[v] = &*graph.constants[v];
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int v = graph.inputs[i].value;
    owned[v] = std::move(inputs[i]);
    env[v] = &*owned[v];
  }

  std::vector<const Tensor*> args;
  for (size_t k = 0; k < graph.nodes.size(); ++k) {
    const Node& node = graph.nodes[k];
    if (deadline_us > 0 && clock.NowMicros() > deadline_us) {
      return absl::DeadlineExceededError(
          absl::StrCat("deadline passed after ", k, " of ", graph.nodes.size(), " nodes"));
    }
    args.clear();
    for (int v : node.inputs) args.push_back(v < 0 ? nullptr : env[v]);
    absl::StatusOr<std::vector<Tensor>> result = node.kernel.run(node, args);
    if (!result.ok()) {
      return absl::Status(
          result.status().code(),
          absl::StrCat(node.Describe(), ": ", std::string(result.status().message())));
    }
    if (result->size() < node.outputs.size()) {
      return absl::InternalError(absl::StrCat(node.Describe(), " produced ", result->size(),
                                              " outputs, expected ", node.outputs.size()));
    }
    for (size_t j = 0; j < node.outputs.size(); ++j) {
      const int v = node.outputs[j];
      if (v < 0) continue;
      owned[v] = std::move((*result)[j]);
      env[v] = &*owned[v];
    }
    for (int v : node.inputs) {
      if (v >= 0 && graph.last_use[v] == static_cast<int>(k) && owned[v].has_value()) {
        if (BufferPool* pool = CurrentBufferPool(); pool != nullptr) {
          pool->Give(std::move(*owned[v]).TakeFloatStorage());
        }
        owned[v].reset();
        env[v] = nullptr;
      }
    }
  }

  std::vector<Tensor> outputs;
  outputs.reserve(graph.outputs.size());
  for (const GraphPort& port : graph.outputs) {
    const Tensor* t = env[port.value];
    if (t == nullptr)
      return absl::InternalError(absl::StrCat("output '", port.name, "' was not computed"));
    absl::Status ok = CheckOutput(port, *t);
    if (!ok.ok()) return ok;
    outputs.push_back(*t);
  }
  return outputs;
}

}  // namespace stoa::functions::onnx
