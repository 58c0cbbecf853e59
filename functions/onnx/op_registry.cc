#include "functions/onnx/op_registry.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "functions/onnx/kernels.h"

namespace stoa::functions::onnx {

std::string Node::Describe() const {
  return absl::StrCat("node '", name, "' (#", index, ", ", op_type, ")");
}

const NodeSubgraph* Node::Subgraph(std::string_view name) const {
  for (const NodeSubgraph& s : subgraphs) {
    if (s.attribute == name) return &s;
  }
  return nullptr;
}

void OpRegistry::Register(std::string op_type, OpKernel kernel) {
  STOA_CHECK(kernel.run != nullptr, "kernel without run function");
  const bool inserted = kernels_.emplace(std::move(op_type), kernel).second;
  STOA_CHECK(inserted, "op registered twice");
}

const OpKernel* OpRegistry::Find(std::string_view op_type) const {
  auto it = kernels_.find(op_type);
  return it == kernels_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::OpTypes() const {
  std::vector<std::string> out;
  for (const auto& [name, kernel] : kernels_) out.push_back(name);
  return out;
}

OpRegistry DefaultOpRegistry() {
  OpRegistry registry;
  RegisterLinalgKernels(registry);
  RegisterElementwiseKernels(registry);
  RegisterSoftmaxKernels(registry);
  RegisterShapeKernels(registry);
  RegisterMovementKernels(registry);
  RegisterConvKernels(registry);
  RegisterPoolKernels(registry);
  RegisterReduceKernels(registry);
  RegisterResizeKernels(registry);
  RegisterControlKernels(registry);
  RegisterRnnKernels(registry);
  RegisterQuantKernels(registry);
  RegisterQLinearKernels(registry);
  RegisterQConvKernels(registry);
  return registry;
}

}  // namespace stoa::functions::onnx
