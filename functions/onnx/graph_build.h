// The steps BuildGraph (graph.h) takes for the main graph and for every
// subgraph of a control-flow node. Internal to graph.cc; not an API.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/memory_budget.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

absl::Status Invalid(const std::string& msg);
// `status` with its message prefixed: "<prefix>: <message>".
absl::Status Prefixed(const std::string& prefix, const absl::Status& status);

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

// A graph input or output as the model declares it. A subgraph's ports may
// omit their type and shape (`lenient`): Loop bodies often do.
absl::StatusOr<GraphPort> PortFromValueInfo(const ::onnx::ValueInfoProto& info, bool is_input,
                                            bool lenient = false);

// Refuses nodes of ops the registry lacks, naming the first.
absl::Status CheckOpsSupported(const ::onnx::GraphProto& g, const OpRegistry& registry);

// A node with its inputs/outputs interned. Runs the kernel's validate unless
// the node has graph attributes (then BuildGraph validates it once its
// subgraphs are built).
absl::StatusOr<Node> MakeNode(const ::onnx::NodeProto& proto, int index, int64_t opset,
                              const OpKernel& kernel, ValueTable& values);

// Kahn's algorithm over producer → consumer edges; the model's order breaks
// ties. INVALID_ARGUMENT naming a node on a cycle.
absl::StatusOr<std::vector<Node>> TopologicalOrder(std::vector<Node> nodes,
                                                   const std::vector<int>& producer);

// Evaluates constant nodes once (never control-flow nodes: a Loop may run
// unbounded); returns the nodes left to run. Kernels check each output
// against `budget` before allocating it.
absl::StatusOr<std::vector<Node>> FoldConstants(std::vector<Node> nodes, Graph& graph,
                                                MemoryBudget& budget);

// Records the element type and shape that `info` declares (or inference
// found) into shapes[id] when `ids` knows the name.
void RecordValueShape(const ::onnx::ValueInfoProto& info,
                      const std::map<std::string, int, std::less<>>& ids,
                      std::vector<ValueShape>& shapes);

// graph.last_use from graph.nodes; outputs are never freed.
void ComputeLastUse(Graph& graph);

}  // namespace stoa::functions::onnx
