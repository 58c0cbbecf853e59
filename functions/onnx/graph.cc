#include "functions/onnx/graph.h"

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/graph_build.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/memory_plan.h"
#include "functions/onnx/model_names.h"
#include "functions/onnx/quant_validate.h"
#include "functions/onnx/subgraph.h"
#include "functions/onnx/tensor_proto.h"
#include "onnx/shape_inference/implementation.h"

namespace stoa::functions::onnx {
namespace {

using IdMap = std::map<std::string, int, std::less<>>;

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

absl::StatusOr<int64_t> DefaultOpset(const ::onnx::ModelProto& model) {
  for (const auto& import : model.opset_import()) {
    if (IsDefaultDomain(import.domain())) {
      RETURN_IF_ERROR(CheckOpset(import.version()));
      return import.version();
    }
  }
  return Invalid("model imports no version of the default ONNX domain (opset_import)");
}

// An outer-scope value a subgraph reads: its name and what the enclosing
// graph knows of its shape.
struct Capture {
  std::string name;
  ValueShape shape;
};

struct BuildContext {
  const OpRegistry& registry;
  const ModelLimits& limits;
  int64_t opset = 0;
  MemoryBudget* budget = nullptr;                    // charged by folding, in every graph
  std::map<std::string, Tensor>* weights = nullptr;  // the main graph's, read from a file
};

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

// The model with its main graph's nodes in `order` (topological), after
// ONNX shape inference: its value_info, and that of its subgraphs, hold what
// inference found. Never fails: what inference cannot handle stays unknown.
::onnx::ModelProto InferredCopy(const ::onnx::ModelProto& model, const std::vector<Node>& order) {
  ::onnx::ModelProto copy = WithoutWeightData(model);
  auto* nodes = copy.mutable_graph()->mutable_node();
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> sorted;
  for (const Node& node : order) *sorted.Add() = nodes->Get(node.index);
  nodes->Swap(&sorted);
  try {
    ::onnx::shape_inference::InferShapes(copy);
  } catch (const std::exception&) {
    // Keep whatever the model declares.
  }
  return copy;
}

std::vector<ValueShape> DeclaredShapes(const ::onnx::GraphProto& g, const IdMap& ids) {
  std::vector<ValueShape> shapes(ids.size());
  for (const auto& info : g.input()) RecordValueShape(info, ids, shapes);
  for (const auto& info : g.value_info()) RecordValueShape(info, ids, shapes);
  for (const auto& info : g.output()) RecordValueShape(info, ids, shapes);
  return shapes;
}

// Appends to node.inputs the outer-scope values each graph attribute reads
// (each once) and records, per attribute, which inputs carry them.
void AttachCaptures(const ::onnx::NodeProto& proto, Node& node, ValueTable& values) {
  for (const ::onnx::AttributeProto& a : proto.attribute()) {
    if (a.type() != ::onnx::AttributeProto::GRAPH) continue;
    NodeSubgraph sub;
    sub.attribute = a.name();
    for (const std::string& name : FreeNames(a.g())) {
      const int id = values.Intern(name);
      int index = -1;
      for (size_t j = node.declared_inputs; j < node.inputs.size(); ++j) {
        if (node.inputs[j] == id) index = static_cast<int>(j);
      }
      if (index < 0) {
        index = static_cast<int>(node.inputs.size());
        node.inputs.push_back(id);
        node.input_names.push_back(name);
      }
      sub.captures.push_back(index);
    }
    node.subgraphs.push_back(std::move(sub));
  }
}

// Inputs and initializers of `g` into `graph`/`constants`; a subgraph's
// captures become inputs after its own.
absl::Status DeclareSources(const ::onnx::GraphProto& g, const std::vector<Capture>* captures,
                            ValueTable& values, std::map<int, Tensor>& constants, Graph& graph,
                            std::map<std::string, Tensor>* weights) {
  for (const auto& init : g.initializer()) {
    const int id = values.Intern(init.name());
    if (constants.count(id) > 0)
      return Invalid(absl::StrCat("initializer '", init.name(), "' is defined twice"));
    auto read = weights != nullptr ? weights->find(init.name()) : decltype(weights->end())();
    absl::StatusOr<Tensor> t = weights != nullptr && read != weights->end()
                                   ? absl::StatusOr<Tensor>(std::move(read->second))
                                   : TensorFromProto(init);
    if (weights != nullptr && read != weights->end()) weights->erase(read);
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
    ASSIGN_OR_RETURN(GraphPort port, PortFromValueInfo(info, /*is_input=*/true,
                                                       /*lenient=*/captures != nullptr));
    port.value = id;
    graph.inputs.push_back(std::move(port));
  }
  if (captures == nullptr) return absl::OkStatus();
  for (const Capture& c : *captures) {
    const int id = values.Intern(c.name);  // FreeNames: never one of the graph's own names
    graph.inputs.push_back(GraphPort{.name = c.name,
                                     .value = id,
                                     .type = c.shape.type,
                                     .shape = c.shape.shape,
                                     .has_shape = false,
                                     .has_type = false});
  }
  return absl::OkStatus();
}

// Every value has exactly one source: a graph input, an initializer or a node.
absl::Status CheckSources(const std::vector<Node>& nodes, const Graph& graph,
                          const std::map<int, Tensor>& constants,
                          const std::vector<std::string>& names, std::vector<int>& producer,
                          std::vector<bool>& has_source) {
  producer.assign(names.size(), -1);
  has_source.assign(names.size(), false);
  for (const auto& [id, t] : constants) has_source[id] = true;
  for (const GraphPort& port : graph.inputs) has_source[port.value] = true;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int v : nodes[i].outputs) {
      if (v < 0) continue;
      if (has_source[v]) {
        return Invalid(absl::StrCat(nodes[i].Describe(), " output '", names[v],
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
                                    "' is not a graph input, an initializer or any node's output",
                                    j >= static_cast<size_t>(node.declared_inputs)
                                        ? " (read by one of its subgraphs)"
                                        : ""));
      }
    }
  }
  return absl::OkStatus();
}

// One graph without shapes, subgraphs or folding: sources, nodes in
// topological order, outputs. `ids` maps its value names to ids.
absl::StatusOr<Graph> DraftGraph(const ::onnx::GraphProto& g, const BuildContext& ctx,
                                 const std::vector<Capture>* captures, IdMap& ids) {
  RETURN_IF_ERROR(CheckOpsSupported(g, ctx.registry));
  Graph graph;
  graph.opset = ctx.opset;
  ValueTable values;
  std::map<int, Tensor> constants;
  RETURN_IF_ERROR(DeclareSources(g, captures, values, constants, graph,
                                 captures == nullptr ? ctx.weights : nullptr));
  std::vector<Node> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    const OpKernel* kernel = ctx.registry.Find(g.node(i).op_type());
    ASSIGN_OR_RETURN(Node node, MakeNode(g.node(i), i, ctx.opset, *kernel, values));
    AttachCaptures(g.node(i), node, values);
    nodes.push_back(std::move(node));
  }
  std::vector<std::string> names = values.TakeNames();
  std::vector<int> producer;
  std::vector<bool> has_source;
  RETURN_IF_ERROR(CheckSources(nodes, graph, constants, names, producer, has_source));
  ASSIGN_OR_RETURN(graph.nodes, TopologicalOrder(std::move(nodes), producer));
  for (size_t v = 0; v < names.size(); ++v) ids.emplace(names[v], static_cast<int>(v));
  if (g.output_size() == 0) return Invalid("graph has no outputs");
  for (const auto& info : g.output()) {
    auto it = ids.find(info.name());
    if (it == ids.end() || !has_source[it->second]) {
      return Invalid(absl::StrCat("output '", info.name(), "' is not produced by any node"));
    }
    ASSIGN_OR_RETURN(GraphPort port, PortFromValueInfo(info, /*is_input=*/false,
                                                       /*lenient=*/captures != nullptr));
    port.value = it->second;
    graph.outputs.push_back(std::move(port));
  }
  graph.value_names = std::move(names);
  graph.constants.resize(graph.value_names.size());
  for (auto& [id, t] : constants) graph.constants[id] = std::move(t);
  for (const Node& node : graph.nodes) graph.model_order.push_back(node.index);
  return graph;
}

absl::StatusOr<Graph> BuildBody(const ::onnx::GraphProto& g, const BuildContext& ctx,
                                const std::vector<Capture>& captures);

const ::onnx::GraphProto* FindGraphAttribute(const ::onnx::NodeProto& proto,
                                             const std::string& name) {
  for (const auto& a : proto.attribute()) {
    if (a.name() == name && a.type() == ::onnx::AttributeProto::GRAPH) return &a.g();
  }
  return nullptr;
}

// Builds the subgraphs of every node of `graph`, from `proto_of(k, node)`:
// the (shape-inferred) NodeProto of graph.nodes[k]. Then runs the kernel's
// validate, which may look at them (If's branch output counts).
absl::Status BuildSubgraphs(
    Graph& graph, const BuildContext& ctx,
    const std::function<const ::onnx::NodeProto&(size_t, const Node&)>& proto_of) {
  for (size_t k = 0; k < graph.nodes.size(); ++k) {
    Node& node = graph.nodes[k];
    if (node.subgraphs.empty()) continue;
    const ::onnx::NodeProto& proto = proto_of(k, node);
    for (NodeSubgraph& sub : node.subgraphs) {
      const ::onnx::GraphProto* body = FindGraphAttribute(proto, sub.attribute);
      if (body == nullptr) return Invalid(absl::StrCat(node.Describe(), " lost its subgraph"));
      std::vector<Capture> captures;
      for (int j : sub.captures) {
        captures.push_back({node.input_names[j], graph.value_shapes[node.inputs[j]]});
      }
      absl::StatusOr<Graph> built = BuildBody(*body, ctx, captures);
      if (!built.ok()) {
        return Prefixed(absl::StrCat(node.Describe(), ": ", sub.attribute), built.status());
      }
      sub.graph = std::make_shared<const Graph>(*std::move(built));
    }
    if (node.kernel.validate != nullptr) {
      absl::Status valid = node.kernel.validate(node);
      if (!valid.ok()) return Prefixed(node.Describe(), valid);
    }
  }
  return absl::OkStatus();
}

absl::Status Finish(Graph& graph, const BuildContext& ctx) {
  ASSIGN_OR_RETURN(graph.nodes, FoldConstants(std::move(graph.nodes), graph, *ctx.budget));
  RETURN_IF_ERROR(CheckQuantizedNodes(graph));
  ComputeLastUse(graph);
  return absl::OkStatus();
}

int64_t InitializerBytes(const Graph& graph) {
  int64_t bytes = 0;
  for (const auto& c : graph.constants) {
    if (c.has_value()) bytes += TensorBytes(*c);
  }
  return bytes;
}

// A subgraph, from its shape-inferred proto.
absl::StatusOr<Graph> BuildBody(const ::onnx::GraphProto& g, const BuildContext& ctx,
                                const std::vector<Capture>& captures) {
  IdMap ids;
  ASSIGN_OR_RETURN(Graph graph, DraftGraph(g, ctx, &captures, ids));
  ctx.budget->Charge(InitializerBytes(graph));
  graph.value_shapes = DeclaredShapes(g, ids);
  for (const Capture& c : captures) graph.value_shapes[ids.at(c.name)] = c.shape;
  RETURN_IF_ERROR(BuildSubgraphs(
      graph, ctx, [&g](size_t, const Node& node) -> decltype(auto) { return g.node(node.index); }));
  RETURN_IF_ERROR(Finish(graph, ctx));
  return graph;
}

}  // namespace

absl::StatusOr<Graph> BuildGraph(const ::onnx::ModelProto& model, const OpRegistry& registry,
                                 const ModelLimits& limits,
                                 std::map<std::string, Tensor>* weights) {
  if (!model.has_graph()) return Invalid("model has no graph");
  const ::onnx::GraphProto& g = model.graph();
  if (g.node_size() > limits.max_nodes) {
    return Invalid(absl::StrCat("model has ", g.node_size(), " nodes; the limit is ",
                                limits.max_nodes,
                                " nodes (ONNX graph node limit: --onnx-max-nodes)"));
  }
  RETURN_IF_ERROR(CheckModelNames(model));
  RETURN_IF_ERROR(CheckNestedGraphs(g, limits));
  RETURN_IF_ERROR(CheckOpsSupported(g, registry));
  BuildContext ctx{.registry = registry, .limits = limits};
  ctx.weights = weights;
  ASSIGN_OR_RETURN(ctx.opset, DefaultOpset(model));
  RETURN_IF_ERROR(CheckInitializerBytes(g, limits));

  IdMap ids;
  ASSIGN_OR_RETURN(Graph graph, DraftGraph(g, ctx, /*captures=*/nullptr, ids));
  const ::onnx::ModelProto inferred = InferredCopy(model, graph.nodes);
  graph.value_shapes = DeclaredShapes(inferred.graph(), ids);
  MemoryBudget budget(limits.memory_bytes, limits.memory_source, InitializerBytes(graph));
  ctx.budget = &budget;
  RETURN_IF_ERROR(BuildSubgraphs(graph, ctx, [&inferred](size_t k, const Node&) -> decltype(auto) {
    return inferred.graph().node(static_cast<int>(k));
  }));
  RETURN_IF_ERROR(Finish(graph, ctx));
  const MemoryPlan plan = PlanMemory(graph);
  RETURN_IF_ERROR(CheckMemoryPlan(plan, limits));
  graph.constant_bytes = plan.constant_bytes;
  return graph;
}

}  // namespace stoa::functions::onnx
