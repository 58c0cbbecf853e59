#include "functions/onnx/memory_plan.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

int64_t PlannedBytes(const ValueShape& v) {
  if (!v.known) return 0;
  Shape dims = v.shape;
  for (int64_t& d : dims) d = d < 0 ? 1 : d;
  return TensorBytes(v.type, dims);
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

}  // namespace

namespace {

// `count_inputs` is false for a subgraph: its inputs are borrowed from the
// node that runs it and already counted where they live.
MemoryPlan PlanGraph(const Graph& graph, bool count_inputs) {
  MemoryPlan plan;
  for (const auto& c : graph.constants) {
    if (c.has_value()) plan.constant_bytes = SaturatingAdd(plan.constant_bytes, TensorBytes(*c));
  }
  const size_t n_values = graph.value_names.size();
  std::vector<int64_t> bytes(n_values, 0);
  for (size_t v = 0; v < n_values && v < graph.value_shapes.size(); ++v) {
    if (!graph.constants[v].has_value()) bytes[v] = PlannedBytes(graph.value_shapes[v]);
  }
  int64_t live = 0;
  for (const GraphPort& port : graph.inputs) {
    if (count_inputs) live = SaturatingAdd(live, bytes[port.value]);
    if (!count_inputs) bytes[port.value] = 0;
  }
  int64_t peak = live;
  for (size_t k = 0; k < graph.nodes.size(); ++k) {
    const Node& node = graph.nodes[k];
    int64_t inside = 0;  // what the node's subgraphs hold while it runs
    for (const NodeSubgraph& sub : node.subgraphs) {
      const MemoryPlan p = PlanGraph(*sub.graph, /*count_inputs=*/false);
      plan.constant_bytes = SaturatingAdd(plan.constant_bytes, p.constant_bytes);
      inside = std::max(inside, p.intermediate_bytes);
    }
    peak = std::max(peak, SaturatingAdd(live, inside));
    for (int v : node.outputs) {
      if (v >= 0) live = SaturatingAdd(live, bytes[v]);
    }
    peak = std::max(peak, live);
    for (int v : node.inputs) {
      if (v >= 0 && graph.last_use[v] == static_cast<int>(k)) {
        live -= bytes[v];
        bytes[v] = 0;  // a value read twice by this node is freed once
      }
    }
  }
  plan.intermediate_bytes = peak;
  return plan;
}

}  // namespace

MemoryPlan PlanMemory(const Graph& graph) { return PlanGraph(graph, /*count_inputs=*/true); }

absl::Status CheckMemoryPlan(const MemoryPlan& plan, const ModelLimits& limits) {
  if (plan.peak_bytes() <= limits.memory_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "model needs ", plan.peak_bytes(), " bytes at its planned peak (constants ",
      plan.constant_bytes, ", intermediates ", plan.intermediate_bytes, "); the limit is ",
      limits.memory_bytes, " bytes (ONNX memory limit: ", limits.memory_source, ")"));
}

}  // namespace stoa::functions::onnx
