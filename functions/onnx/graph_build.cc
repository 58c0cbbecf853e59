#include "functions/onnx/graph_build.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool HasGraphAttribute(const ::onnx::NodeProto& proto) {
  for (const auto& a : proto.attribute()) {
    if (a.type() == ::onnx::AttributeProto::GRAPH) return true;
  }
  return false;
}

bool StaticShape(const ValueShape& v) {
  if (!v.known) return false;
  for (int64_t d : v.shape) {
    if (d < 0) return false;
  }
  return true;
}

// The arguments of `node` when it can be folded (all inputs constant, or a
// Shape of a statically shaped value); nullopt otherwise. `scratch` holds a
// stand-in tensor for Shape.
std::optional<std::vector<const Tensor*>> FoldableArgs(const Node& node, const Graph& graph,
                                                       std::optional<Tensor>& scratch) {
  if (!node.subgraphs.empty()) return std::nullopt;
  std::vector<const Tensor*> args;
  if (node.op_type == "Shape" && !node.inputs.empty() && node.inputs[0] >= 0 &&
      !graph.constants[node.inputs[0]].has_value()) {
    const ValueShape& v = graph.value_shapes[node.inputs[0]];
    absl::StatusOr<int64_t> count = ElementCount(v.shape);
    if (!StaticShape(v) || !count.ok() || *count > (int64_t{1} << 26)) return std::nullopt;
    scratch.emplace(Tensor::Empty(ElementType::kBool, v.shape));  // only the shape is read
    args.push_back(&*scratch);
    return args;
  }
  for (int v : node.inputs) {
    if (v >= 0 && !graph.constants[v].has_value()) return std::nullopt;
    args.push_back(v < 0 ? nullptr : &*graph.constants[v]);
  }
  return args;
}

}  // namespace

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status Prefixed(const std::string& prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", std::string(status.message())));
}

absl::StatusOr<GraphPort> PortFromValueInfo(const ::onnx::ValueInfoProto& info, bool is_input,
                                            bool lenient) {
  const char* kind = is_input ? "input" : "output";
  GraphPort port;
  port.name = info.name();
  if (lenient && (!info.type().has_tensor_type() || !info.type().tensor_type().has_elem_type() ||
                  info.type().tensor_type().elem_type() == 0)) {
    port.has_type = false;
    port.has_shape = false;
    return port;
  }
  if (!info.type().has_tensor_type()) {
    return Invalid(absl::StrCat(kind, " '", info.name(), "' is not a tensor"));
  }
  const auto& tensor_type = info.type().tensor_type();
  absl::StatusOr<ElementType> type = ElementTypeFromOnnx(tensor_type.elem_type());
  if (!type.ok()) {
    return Invalid(
        absl::StrCat(kind, " '", info.name(), "': ", std::string(type.status().message())));
  }
  port.type = *type;
  if (!tensor_type.has_shape()) {
    if (is_input && !lenient)
      return Invalid(absl::StrCat("input '", info.name(), "' has no shape"));
    port.has_shape = false;
    return port;
  }
  for (const auto& dim : tensor_type.shape().dim()) {
    port.shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0 ? dim.dim_value() : -1);
  }
  return port;
}

absl::Status CheckOpsSupported(const ::onnx::GraphProto& g, const OpRegistry& registry) {
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!IsDefaultDomain(n.domain()) || registry.Find(n.op_type()) == nullptr) {
      const std::string op =
          IsDefaultDomain(n.domain()) ? n.op_type() : absl::StrCat(n.domain(), ".", n.op_type());
      return Invalid(
          absl::StrCat("node '", n.name(), "' (#", i, ") uses unsupported op '", op, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Node> MakeNode(const ::onnx::NodeProto& proto, int index, int64_t opset,
                              const OpKernel& kernel, ValueTable& values) {
  Node node;
  node.name = proto.name();
  node.op_type = proto.op_type();
  node.index = index;
  node.opset = opset;
  node.kernel = kernel;
  const std::string where = node.Describe();
  const int n_in = proto.input_size(), n_out = proto.output_size();
  if (n_in < kernel.min_inputs || n_in > kernel.max_inputs) {
    return Invalid(absl::StrCat(where, " has ", n_in, " inputs; ", node.op_type, " takes ",
                                kernel.min_inputs, " to ", kernel.max_inputs));
  }
  if (n_out < 1 || n_out > kernel.max_outputs) {
    return Invalid(absl::StrCat(where, " has ", n_out, " outputs; ", node.op_type, " has 1 to ",
                                kernel.max_outputs));
  }
  for (int j = 0; j < n_in; ++j) {
    const std::string& name = proto.input(j);
    if (name.empty() && j < kernel.min_inputs) {
      return Invalid(absl::StrCat(where, " omits required input #", j));
    }
    node.input_names.push_back(name);
    node.inputs.push_back(name.empty() ? -1 : values.Intern(name));
  }
  node.declared_inputs = n_in;
  for (const std::string& name : proto.output()) {
    node.outputs.push_back(name.empty() ? -1 : values.Intern(name));
  }
  absl::StatusOr<Attributes> attrs = Attributes::FromProto(proto);
  if (!attrs.ok()) return Prefixed(where, attrs.status());
  node.attributes = *std::move(attrs);
  if (kernel.validate != nullptr && !HasGraphAttribute(proto)) {
    absl::Status valid = kernel.validate(node);
    if (!valid.ok()) return Prefixed(where, valid);
  }
  return node;
}

absl::StatusOr<std::vector<Node>> TopologicalOrder(std::vector<Node> nodes,
                                                   const std::vector<int>& producer) {
  const size_t n = nodes.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (size_t i = 0; i < n; ++i) {
    for (int v : nodes[i].inputs) {
      if (v >= 0 && producer[v] >= 0) {
        ++pending[i];
        consumers[producer[v]].push_back(static_cast<int>(i));
      }
    }
  }
  std::deque<int> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (int c : consumers[i]) {
      if (--pending[c] == 0) ready.push_back(c);
    }
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (pending[i] > 0)
        return Invalid(absl::StrCat("graph has a cycle through ", nodes[i].Describe()));
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(nodes[i]));
  return sorted;
}

absl::StatusOr<std::vector<Node>> FoldConstants(std::vector<Node> nodes, Graph& graph,
                                                MemoryBudget& budget) {
  ScopedMemoryBudget scoped_budget(&budget);
  std::vector<Node> kept;
  for (Node& node : nodes) {
    std::optional<Tensor> scratch;
    std::optional<std::vector<const Tensor*>> args = FoldableArgs(node, graph, scratch);
    if (!args.has_value()) {
      kept.push_back(std::move(node));
      continue;
    }
    absl::StatusOr<std::vector<Tensor>> out = node.kernel.run(node, *args);
    if (!out.ok())
      return Prefixed(absl::StrCat(node.Describe(), " (constant folding)"), out.status());
    if (out->size() < node.outputs.size()) {
      return Invalid(absl::StrCat(node.Describe(), " produced too few outputs while folding"));
    }
    for (size_t j = 0; j < node.outputs.size(); ++j) {
      if (node.outputs[j] < 0) continue;
      budget.Charge(TensorBytes((*out)[j]));
      graph.constants[node.outputs[j]] = std::move((*out)[j]);
    }
    ++graph.folded_nodes;
  }
  return kept;
}

void RecordValueShape(const ::onnx::ValueInfoProto& info,
                      const std::map<std::string, int, std::less<>>& ids,
                      std::vector<ValueShape>& shapes) {
  auto it = ids.find(info.name());
  if (it == ids.end() || !info.type().has_tensor_type()) return;
  const auto& tt = info.type().tensor_type();
  absl::StatusOr<ElementType> type = ElementTypeFromOnnx(tt.elem_type());
  if (!type.ok() || !tt.has_shape()) return;
  ValueShape& v = shapes[it->second];
  v.known = true;
  v.type = *type;
  v.shape.clear();
  for (const auto& dim : tt.shape().dim()) {
    v.shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0 ? dim.dim_value() : -1);
  }
}

void ComputeLastUse(Graph& graph) {
  graph.last_use.assign(graph.value_names.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int v : graph.nodes[i].inputs) {
      if (v >= 0) graph.last_use[v] = static_cast<int>(i);
    }
  }
  for (const GraphPort& port : graph.outputs) {
    graph.last_use[port.value] = static_cast<int>(graph.nodes.size());  // never freed
  }
}

}  // namespace stoa::functions::onnx
