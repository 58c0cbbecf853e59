#include "functions/onnx/subgraph.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/model_names.h"
#include "functions/onnx/tensor_proto.h"

namespace stoa::functions::onnx {
namespace {

struct Totals {
  int64_t nodes = 0;
  int64_t initializer_bytes = 0;
};

absl::Status CountInitializers(const ::onnx::GraphProto& g, const ModelLimits& limits,
                               Totals& totals) {
  for (const ::onnx::TensorProto& init : g.initializer()) {
    absl::StatusOr<ElementType> type = ElementTypeFromOnnx(init.data_type());
    if (!type.ok()) continue;  // refused with its own message when decoded
    const int64_t bytes = TensorBytes(
        *type,
        std::span<const int64_t>(init.dims().data(), static_cast<size_t>(init.dims().size())));
    if (__builtin_add_overflow(totals.initializer_bytes, bytes, &totals.initializer_bytes)) {
      totals.initializer_bytes = INT64_MAX;
    }
    if (totals.initializer_bytes > limits.max_initializer_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("model's initializers (subgraphs included) take more than ",
                       limits.max_initializer_bytes, " bytes (at initializer '", init.name(),
                       "'); the limit is ", limits.max_initializer_bytes,
                       " bytes (ONNX initializer size limit: --onnx-max-initializer-mb)"));
    }
  }
  return absl::OkStatus();
}

absl::Status Walk(const ::onnx::GraphProto& g, int depth, const ModelLimits& limits,
                  Totals& totals) {
  totals.nodes += g.node_size();
  if (totals.nodes > limits.max_nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model has ", totals.nodes, " nodes (subgraphs included); the limit is ",
                     limits.max_nodes, " nodes (ONNX graph node limit: --onnx-max-nodes)"));
  }
  if (depth > 0) {
    RETURN_IF_ERROR(CheckGraphNames(g));
    RETURN_IF_ERROR(CountInitializers(g, limits, totals));
  }
  for (int i = 0; i < g.node_size(); ++i) {
    const ::onnx::NodeProto& node = g.node(i);
    for (const ::onnx::AttributeProto& a : node.attribute()) {
      const std::string where =
          absl::StrCat("node '", node.name(), "' (#", i, "), attribute '", a.name(), "'");
      if (a.type() == ::onnx::AttributeProto::GRAPHS || a.graphs_size() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " is a list of graphs, which is not supported"));
      }
      if (a.type() != ::onnx::AttributeProto::GRAPH) continue;
      if (depth + 1 > limits.max_subgraph_depth) {
        return absl::InvalidArgumentError(
            absl::StrCat("subgraphs nest ", depth + 1, " deep (at ", where, "); the limit is ",
                         limits.max_subgraph_depth, " (ONNX subgraph depth limit)"));
      }
      RETURN_IF_ERROR(Walk(a.g(), depth + 1, limits, totals));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckNestedGraphs(const ::onnx::GraphProto& main, const ModelLimits& limits) {
  Totals totals;
  return Walk(main, 0, limits, totals);
}

std::vector<std::string> FreeNames(const ::onnx::GraphProto& g) {
  std::set<std::string> defined;
  for (const auto& info : g.input()) defined.insert(info.name());
  for (const auto& init : g.initializer()) defined.insert(init.name());
  for (const auto& node : g.node()) {
    for (const std::string& out : node.output()) defined.insert(out);
  }
  std::vector<std::string> free;
  std::set<std::string> seen;
  auto use = [&](const std::string& name) {
    if (name.empty() || defined.count(name) > 0 || !seen.insert(name).second) return;
    free.push_back(name);
  };
  for (const auto& node : g.node()) {
    for (const std::string& in : node.input()) use(in);
    for (const auto& a : node.attribute()) {
      if (a.type() != ::onnx::AttributeProto::GRAPH) continue;
      for (const std::string& name : FreeNames(a.g())) use(name);
    }
  }
  for (const auto& out : g.output()) use(out.name());
  return free;
}

}  // namespace stoa::functions::onnx
