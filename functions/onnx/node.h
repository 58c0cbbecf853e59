// One node of a loaded graph and the kernel that computes it.
//
// An OpKernel is a pair of plain functions: `validate` runs once at load
// (attribute types and values that do not depend on input shapes), `run`
// runs per invocation. Kernels are stateless: everything a run needs comes
// from the Node and the inputs, so one Node is run from many threads at once.
// Kernel errors are INVALID_ARGUMENT (they come from shapes or values the
// model or the caller supplied); the interpreter prefixes them with the node.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "functions/onnx/attributes.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {

struct Node;
struct Graph;

// A graph attribute of a node (If's then_branch/else_branch, Loop's body),
// built at load like the main graph. The subgraph's inputs are its formal
// inputs (Loop: iteration number, condition, carried values; If: none)
// followed by the outer-scope values it reads; `captures` gives, for each of
// those, the index of the owning node's input that carries it.
struct NodeSubgraph {
  std::string attribute;
  std::shared_ptr<const Graph> graph;
  std::vector<int> captures;
};

// Inputs in node order; an omitted optional input is nullptr.
using KernelInputs = std::span<const Tensor* const>;

struct OpKernel {
  // Input count bounds (inputs below min_inputs must be present) and the
  // most outputs the op produces.
  int min_inputs = 1;
  int max_inputs = 1;
  int max_outputs = 1;
  // May be null. INVALID_ARGUMENT naming the attribute on a bad model.
  absl::Status (*validate)(const Node& node) = nullptr;
  // Returns the outputs in order (at least as many as the node names).
  absl::StatusOr<std::vector<Tensor>> (*run)(const Node& node, KernelInputs inputs) = nullptr;
};

struct Node {
  std::string name;     // as in the model; may be empty
  std::string op_type;  // e.g. "Gemm"
  int index = 0;        // position in the model's node list
  int64_t opset = 0;    // version of the default ONNX domain the model imports
  Attributes attributes;
  std::vector<std::string> input_names;  // "" for an omitted optional input
  std::vector<int> inputs;               // value ids; -1 for an omitted input
  std::vector<int> outputs;              // value ids; -1 for an unused output
  OpKernel kernel;
  // Control flow only: the node's graph attributes. The outer-scope values
  // they read are appended to `inputs` after the model's own inputs (the
  // first `declared_inputs`), so ordering and freeing treat them as inputs.
  std::vector<NodeSubgraph> subgraphs;
  int declared_inputs = 0;

  // The subgraph built from attribute `name`, or nullptr.
  const NodeSubgraph* Subgraph(std::string_view name) const;

  // "node 'fc1' (#0, Gemm)", for messages.
  std::string Describe() const;
};

}  // namespace stoa::functions::onnx
