#include "functions/onnx/split_graph.h"

#include <algorithm>

#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

int64_t StaticElements(const ValueShape& vs) {
  if (!vs.known) return -1;
  int64_t n = 1;
  for (int64_t d : vs.shape) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

// A FLOP-like cost: output elements, times the weight's fan-in for the
// ops that dominate CNNs and MLPs (Conv: W elements / output channels;
// Gemm/MatMul: B elements / output columns). Unknown shapes count 1.
double NodeCost(const Graph& graph, const Node& node) {
  double out = 0;
  for (int v : node.outputs) {
    if (v >= 0) out += std::max<int64_t>(1, StaticElements(graph.value_shapes[v]));
  }
  out = std::max(out, 1.0);
  const bool conv = node.op_type.find("Conv") != std::string::npos;
  const bool gemm = node.op_type.find("Gemm") != std::string::npos ||
                    node.op_type.find("MatMul") != std::string::npos;
  if (!(conv || gemm) || node.inputs.size() < 2 || node.inputs[1] < 0) return out;
  const ValueShape& w = graph.value_shapes[node.inputs[1]];
  const int64_t w_elems = StaticElements(w);
  if (w_elems <= 0 || w.shape.empty()) return out;
  int64_t per_output = 1;
  if (conv && w.shape[0] > 0) per_output = w_elems / w.shape[0];
  if (gemm && w.shape.back() > 0) per_output = w_elems / w.shape.back();
  return out * static_cast<double>(std::max<int64_t>(1, per_output));
}

}  // namespace

std::vector<CutPoint> FindCutPoints(const Graph& graph) {
  const int n = static_cast<int>(graph.nodes.size());
  const size_t values = graph.value_names.size();
  std::vector<CutPoint> cuts;
  if (n < 2) return cuts;
  // last[v]: the last node that needs v (n for a graph output).
  std::vector<int> last(graph.last_use.begin(), graph.last_use.end());
  last.resize(values, -1);
  for (const GraphPort& out : graph.outputs) last[out.value] = n;
  // Values that start crossing after node k, and those that stop at node k.
  std::vector<std::vector<int>> born(n), dies(n + 1);
  int inputs_alive = 0;
  for (const GraphPort& in : graph.inputs) {
    if (last[in.value] >= 1) ++inputs_alive, dies[std::min(last[in.value], n)].push_back(-1);
  }
  std::vector<double> cost(n);
  double total = 0;
  for (int k = 0; k < n; ++k) {
    const Node& node = graph.nodes[k];
    cost[k] = NodeCost(graph, node);
    total += cost[k];
    for (int v : node.outputs) {
      if (v < 0 || graph.constants[v].has_value() || last[v] <= k) continue;
      born[k].push_back(v);
      dies[last[v]].push_back(v);
    }
  }
  int alive = 0, outputs_alive = 0;
  int64_t id_sum = 0;
  double prefix = 0;
  for (int k = 0; k + 1 < n; ++k) {
    prefix += cost[k];
    for (int v : born[k]) ++alive, id_sum += v, outputs_alive += last[v] == n;
    // Values whose last reader is node k no longer cross the cut after k.
    for (int v : dies[k]) {
      if (v < 0)
        --inputs_alive;
      else
        --alive, id_sum -= v;
    }
    if (alive != 1 || inputs_alive > 0 || outputs_alive > 0) continue;
    const int v = static_cast<int>(id_sum);
    const ValueShape& vs = graph.value_shapes[v];
    const int64_t elems = StaticElements(vs);
    cuts.push_back(CutPoint{
        .tensor = graph.value_names[v],
        .value = v,
        .after_node = k,
        .type = vs.type,
        .shape = vs.known ? vs.shape : Shape{},
        .bytes = elems < 0 ? -1 : TensorBytes(vs.type, vs.shape),
        .prefix_cost = total > 0 ? prefix / total : 0.0,
    });
  }
  return cuts;
}

GraphRange PrefixRange(const Graph& graph, const CutPoint& cut) {
  GraphRange range{.begin = 0,
                   .end = static_cast<size_t>(cut.after_node) + 1,
                   .input_values = {},
                   .output_values = {cut.value}};
  for (const GraphPort& in : graph.inputs) range.input_values.push_back(in.value);
  return range;
}

GraphRange SuffixRange(const Graph& graph, const CutPoint& cut) {
  return GraphRange{.begin = static_cast<size_t>(cut.after_node) + 1,
                    .end = graph.nodes.size(),
                    .input_values = {cut.value},
                    .output_values = {}};
}

std::optional<CutPoint> FindCut(const std::vector<CutPoint>& cuts, const std::string& tensor) {
  for (const CutPoint& c : cuts) {
    if (c.tensor == tensor) return c;
  }
  return std::nullopt;
}

}  // namespace stoa::functions::onnx
