// A loaded ONNX graph: nodes in topological order, bound to their kernels,
// with values numbered densely so that an invocation keeps its tensors in a
// vector. Built once at load, then only read: one Graph serves concurrent
// invocations.
//
// BuildGraph refuses, with INVALID_ARGUMENT naming the culprit:
//  - a name that is not UTF-8 or is too long (model_names.h);
//  - a node whose op has no kernel ("node 'conv1' (#0) uses unsupported op 'Conv'");
//  - a node input that no graph input, initializer or node produces, a value
//    produced twice, a cycle, a graph output that nothing produces;
//  - graph inputs/outputs of a type the engine does not hold, inputs without
//    a shape;
//  - initializers the engine cannot hold (see tensor_proto.h);
//  - bad attributes (the kernel's validate), wrong input/output counts;
//  - a node that fails while being constant-folded;
//  - a model past its ModelLimits (model_limits.h): more nodes than
//    max_nodes, initializers over max_initializer_bytes, a default-domain
//    opset outside 1..MaxSupportedOpset(), a folded constant that would not
//    fit the memory budget (checked before it is computed), or a planned
//    peak (memory_plan.h) over limits.memory_bytes.
//
// Subgraphs (graph attributes of If and Loop) are built the same way, into
// Node::subgraphs (node.h), recursively; the outer-scope values a subgraph
// reads become extra inputs of its node, so the main graph's order and
// freeing account for them. All graphs together count against max_nodes and
// max_initializer_bytes, nesting against max_subgraph_depth (subgraph.h);
// a subgraph's ports may omit types and shapes. Errors inside a subgraph are
// prefixed with its node and attribute ("node 'If_25' (#1, If): then_branch:
// node 'x' (#3, LSTM): ..."). Nodes with subgraphs are never folded.
//
// At load, BuildGraph runs ONNX shape inference (symbolic dimensions stay
// -1) and folds constants: a node whose inputs are all constants
// (initializers, Constant nodes, earlier folded values), and a Shape node
// whose input has a fully static inferred shape, is evaluated once and its
// outputs become constants, so Shape→Gather→Unsqueeze→Concat→Reshape chains
// on static dims cost nothing per request.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/model_limits.h"
#include "functions/onnx/node.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/tensor.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

// A graph input or output: its value id, element type and declared shape,
// with -1 for a symbolic or unknown dimension. Outputs may have no declared
// shape (has_shape false); inputs of the main graph always have one.
struct GraphPort {
  std::string name;
  int value = -1;
  ElementType type = ElementType::kFloat32;
  Shape shape;
  bool has_shape = true;
  bool has_type = true;  // false only for a subgraph port that declares no type
};

// What shape inference knows about a value before any request: element
// type and shape with -1 for a symbolic dimension (batch, height, ...).
// known is false when inference could not type the value.
struct ValueShape {
  bool known = false;
  ElementType type = ElementType::kFloat32;
  Shape shape;
};

// A Graph is also the body of a subgraph: then `inputs` are its formal
// inputs followed by the outer-scope values it reads (NodeSubgraph).
// Read-only view for other backends (e.g. CUDA): `nodes` with their
// attributes and value ids, `constants` (initializers and folded values),
// `value_shapes`, `inputs`/`outputs`. Nothing here refers to CPU kernels
// except Node::kernel.
struct Graph {
  int64_t opset = 0;
  std::vector<std::string> value_names;          // by value id
  std::vector<std::optional<Tensor>> constants;  // by value id: initializers
  std::vector<Node> nodes;                       // topological order
  std::vector<int> last_use;                     // by value id: last consuming node, -1 if none
  std::vector<GraphPort> inputs;                 // runtime inputs (initializers excluded)
  std::vector<GraphPort> outputs;
  std::vector<ValueShape> value_shapes;  // by value id, from ONNX shape inference
  int folded_nodes = 0;                  // nodes evaluated at load (constant folding)
  std::vector<int> model_order;          // model node indices, topological, folded included
  int64_t constant_bytes = 0;            // what `constants` hold, charged to every call's budget
};

// `weights` (may be null): main-graph initializers whose data the caller
// read itself (ReadModelFile, model_file.h); their TensorProtos carry only
// name, type, dims and a placeholder. BuildGraph moves them out of the map.
absl::StatusOr<Graph> BuildGraph(const ::onnx::ModelProto& model, const OpRegistry& registry,
                                 const ModelLimits& limits = {},
                                 std::map<std::string, Tensor>* weights = nullptr);

}  // namespace stoa::functions::onnx
