#include "functions/onnx/graph.h"

#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/memory_plan.h"
#include "functions/onnx/model_names.h"
#include "functions/onnx/tensor_proto.h"
#include "onnx/shape_inference/implementation.h"

namespace stoa::functions::onnx {
namespace {

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status Prefixed(const std::string& prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", std::string(status.message())));
}

absl::StatusOr<int64_t> DefaultOpset(const ::onnx::ModelProto& model) {
  for (const auto& import : model.opset_import()) {
    if (IsDefaultDomain(import.domain())) {
      RETURN_IF_ERROR(CheckOpset(import.version()));
      return import.version();
    }
  }
  return Invalid("model imports no version of the default ONNX domain (opset_import)");
}

absl::StatusOr<GraphPort> PortFromValueInfo(const ::onnx::ValueInfoProto& info, bool is_input) {
  const char* kind = is_input ? "input" : "output";
  GraphPort port;
  port.name = info.name();
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
    if (is_input) return Invalid(absl::StrCat("input '", info.name(), "' has no shape"));
    port.has_shape = false;
    return port;
  }
  for (const auto& dim : tensor_type.shape().dim()) {
    port.shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0 ? dim.dim_value() : -1);
  }
  return port;
}

// Names → dense value ids.
class ValueTable {
 public:
  int Intern(const std::string& name) {
    auto [it, inserted] = ids_.emplace(name, static_cast<int>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  }
  std::vector<std::string> TakeNames() { return std::move(names_); }
  size_t size() const { return names_.size(); }

 private:
  std::map<std::string, int, std::less<>> ids_;
  std::vector<std::string> names_;
};

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
  for (const std::string& name : proto.output()) {
    node.outputs.push_back(name.empty() ? -1 : values.Intern(name));
  }
  absl::StatusOr<Attributes> attrs = Attributes::FromProto(proto);
  if (!attrs.ok()) return Prefixed(where, attrs.status());
  node.attributes = *std::move(attrs);
  if (kernel.validate != nullptr) {
    absl::Status valid = kernel.validate(node);
    if (!valid.ok()) return Prefixed(where, valid);
  }
  return node;
}

// Kahn's algorithm over producer → consumer edges; the model's order breaks ties.
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

// The model without the data of its large FP32 initializers (weights):
// shape inference reads initializers' types and dims, and the values of
// small ones only (shapes, axes, scales), so the copy it works on need not
// double the memory a model's weights take at load.
::onnx::ModelProto WithoutWeightData(const ::onnx::ModelProto& model) {
  constexpr int64_t kMaxCopiedElements = 4096;
  ::onnx::ModelProto copy;
  copy.set_ir_version(model.ir_version());
  *copy.mutable_opset_import() = model.opset_import();
  *copy.mutable_functions() = model.functions();
  const ::onnx::GraphProto& g = model.graph();
  ::onnx::GraphProto* out = copy.mutable_graph();
  out->set_name(g.name());
  *out->mutable_node() = g.node();
  *out->mutable_input() = g.input();
  *out->mutable_output() = g.output();
  *out->mutable_value_info() = g.value_info();
  *out->mutable_sparse_initializer() = g.sparse_initializer();
  for (const ::onnx::TensorProto& init : g.initializer()) {
    ::onnx::TensorProto* t = out->add_initializer();
    int64_t elements = 1;
    for (int64_t d : init.dims()) {
      if (d < 0 || __builtin_mul_overflow(elements, d, &elements)) elements = INT64_MAX;
    }
    if (init.data_type() != ::onnx::TensorProto::FLOAT || elements <= kMaxCopiedElements) {
      *t = init;
      continue;
    }
    t->set_name(init.name());
    t->set_data_type(init.data_type());
    *t->mutable_dims() = init.dims();
  }
  return copy;
}

// Types and shapes of every value ONNX shape inference can derive, keyed by
// value id. Nodes are fed in `order` (topological). Never fails: a model
// inference cannot handle just leaves values unknown.
std::vector<ValueShape> InferValueShapes(const ::onnx::ModelProto& model,
                                         const std::vector<Node>& order,
                                         const std::map<std::string, int, std::less<>>& ids) {
  std::vector<ValueShape> shapes(ids.size());
  ::onnx::ModelProto copy = WithoutWeightData(model);
  auto* nodes = copy.mutable_graph()->mutable_node();
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> sorted;
  for (const Node& node : order) *sorted.Add() = nodes->Get(node.index);
  nodes->Swap(&sorted);
  try {
    ::onnx::shape_inference::InferShapes(copy);
  } catch (const std::exception&) {
    // Keep whatever the model declares below.
  }
  auto record = [&](const ::onnx::ValueInfoProto& info) {
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
  };
  for (const auto& info : copy.graph().input()) record(info);
  for (const auto& info : copy.graph().value_info()) record(info);
  for (const auto& info : copy.graph().output()) record(info);
  return shapes;
}

bool StaticShape(const ValueShape& v) {
  if (!v.known) return false;
  for (int64_t d : v.shape) {
    if (d < 0) return false;
  }
  return true;
}

// Evaluates constant nodes once; returns the nodes left to run. Kernels
// check each output against `budget` (in scope) before allocating it, so
// folding never materializes a tensor past the function's memory budget.
absl::StatusOr<std::vector<Node>> FoldConstants(std::vector<Node> nodes, Graph& graph,
                                                MemoryBudget& budget) {
  ScopedMemoryBudget scoped_budget(&budget);
  std::vector<Node> kept;
  for (Node& node : nodes) {
    std::vector<std::optional<Tensor>> scratch;
    std::vector<const Tensor*> args;
    bool constant = true;
    if (node.op_type == "Shape" && !node.inputs.empty() && node.inputs[0] >= 0 &&
        !graph.constants[node.inputs[0]].has_value()) {
      const ValueShape& v = graph.value_shapes[node.inputs[0]];
      absl::StatusOr<int64_t> count = ElementCount(v.shape);
      constant = StaticShape(v) && count.ok() && *count <= (int64_t{1} << 26);
      if (constant) {
        scratch.emplace_back(Tensor::Empty(ElementType::kBool, v.shape));  // only the shape is read
        args.push_back(&*scratch.back());
      }
    } else {
      for (int v : node.inputs) {
        if (v >= 0 && !graph.constants[v].has_value()) constant = false;
        args.push_back(v < 0 ? nullptr : (constant ? &*graph.constants[v] : nullptr));
      }
    }
    if (!constant) {
      kept.push_back(std::move(node));
      continue;
    }
    absl::StatusOr<std::vector<Tensor>> out = node.kernel.run(node, args);
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

int64_t InitializerBytes(const Graph& graph) {
  int64_t bytes = 0;
  for (const auto& c : graph.constants) {
    if (c.has_value()) bytes += TensorBytes(*c);
  }
  return bytes;
}

}  // namespace

absl::StatusOr<Graph> BuildGraph(const ::onnx::ModelProto& model, const OpRegistry& registry,
                                 const ModelLimits& limits) {
  if (!model.has_graph()) return Invalid("model has no graph");
  const ::onnx::GraphProto& g = model.graph();
  if (g.node_size() > limits.max_nodes) {
    return Invalid(absl::StrCat("model has ", g.node_size(), " nodes; the limit is ",
                                limits.max_nodes,
                                " nodes (ONNX graph node limit: --onnx-max-nodes)"));
  }
  RETURN_IF_ERROR(CheckModelNames(model));
  RETURN_IF_ERROR(CheckOpsSupported(g, registry));
  Graph graph;
  ASSIGN_OR_RETURN(graph.opset, DefaultOpset(model));
  RETURN_IF_ERROR(CheckInitializerBytes(g, limits));

  ValueTable values;
  std::map<int, Tensor> constants;
  for (const auto& init : g.initializer()) {
    const int id = values.Intern(init.name());
    if (constants.count(id) > 0)
      return Invalid(absl::StrCat("initializer '", init.name(), "' is defined twice"));
    absl::StatusOr<Tensor> t = TensorFromProto(init);
    if (!t.ok()) return Prefixed("initializer", t.status());
    constants.emplace(id, *std::move(t));
  }
  std::map<int, bool> is_input;
  for (const auto& info : g.input()) {
    const int id = values.Intern(info.name());
    if (constants.count(id) > 0) continue;  // an initializer listed as input (IR < 4 style)
    if (is_input.count(id) > 0)
      return Invalid(absl::StrCat("input '", info.name(), "' is listed twice"));
    is_input[id] = true;
    ASSIGN_OR_RETURN(GraphPort port, PortFromValueInfo(info, /*is_input=*/true));
    port.value = id;
    graph.inputs.push_back(std::move(port));
  }

  std::vector<Node> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    const OpKernel* kernel = registry.Find(g.node(i).op_type());
    ASSIGN_OR_RETURN(Node node, MakeNode(g.node(i), i, graph.opset, *kernel, values));
    nodes.push_back(std::move(node));
  }

  // Every value has exactly one source: a graph input, an initializer or a node.
  std::vector<int> producer(values.size() + g.output_size(), -1);
  std::vector<bool> has_source(producer.size(), false);
  for (const auto& [id, t] : constants) has_source[id] = true;
  for (const auto& [id, unused] : is_input) has_source[id] = true;
  std::vector<std::string> names_so_far = values.TakeNames();
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int v : nodes[i].outputs) {
      if (v < 0) continue;
      if (has_source[v]) {
        return Invalid(absl::StrCat(nodes[i].Describe(), " output '", names_so_far[v],
                                    "' is already produced elsewhere"));
      }
      has_source[v] = true;
      producer[v] = static_cast<int>(i);
    }
  }
  for (const Node& node : nodes) {
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int v = node.inputs[j];
      if (v >= 0 && !has_source[v]) {
        return Invalid(absl::StrCat(node.Describe(), " input '", node.input_names[j],
                                    "' is not a graph input, an initializer or any node's output"));
      }
    }
  }
  ASSIGN_OR_RETURN(graph.nodes, TopologicalOrder(std::move(nodes), producer));

  // Graph outputs; values seen only here are produced by nothing.
  const size_t n_values = names_so_far.size();
  std::map<std::string, int, std::less<>> ids;
  for (size_t v = 0; v < n_values; ++v) ids.emplace(names_so_far[v], static_cast<int>(v));
  if (g.output_size() == 0) return Invalid("graph has no outputs");
  for (const auto& info : g.output()) {
    auto it = ids.find(info.name());
    if (it == ids.end() || !has_source[it->second]) {
      return Invalid(absl::StrCat("output '", info.name(), "' is not produced by any node"));
    }
    ASSIGN_OR_RETURN(GraphPort port, PortFromValueInfo(info, /*is_input=*/false));
    port.value = it->second;
    graph.outputs.push_back(std::move(port));
  }

  graph.value_names = std::move(names_so_far);
  graph.constants.resize(n_values);
  for (auto& [id, t] : constants) graph.constants[id] = std::move(t);
  for (const Node& node : graph.nodes) graph.model_order.push_back(node.index);
  graph.value_shapes = InferValueShapes(model, graph.nodes, ids);
  MemoryBudget budget(limits.memory_bytes, limits.memory_source, InitializerBytes(graph));
  ASSIGN_OR_RETURN(graph.nodes, FoldConstants(std::move(graph.nodes), graph, budget));
  graph.last_use.assign(n_values, -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int v : graph.nodes[i].inputs) {
      if (v >= 0) graph.last_use[v] = static_cast<int>(i);
    }
  }
  for (const GraphPort& port : graph.outputs) {
    graph.last_use[port.value] = static_cast<int>(graph.nodes.size());  // never freed
  }
  const MemoryPlan plan = PlanMemory(graph);
  RETURN_IF_ERROR(CheckMemoryPlan(plan, limits));
  graph.constant_bytes = plan.constant_bytes;
  return graph;
}

}  // namespace stoa::functions::onnx
