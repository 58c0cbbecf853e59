// Cut points of a loaded Graph for split inference (docs/split.md): places
// in the topological order where the graph can be run as a prefix (graph
// inputs -> one tensor) and a suffix (that tensor -> graph outputs).
//
// A cut after node k is a candidate when, of the values that nodes 0..k
// produce and nodes k+1.. read, exactly one is not a constant (initializers
// and folded values exist on both sides and never travel), no graph input
// is read after node k (the suffix gets the cut tensor only), and no graph
// output is produced by the prefix.
//
// Thread safety: pure functions over an immutable Graph.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"

namespace stoa::functions::onnx {

struct CutPoint {
  std::string tensor;  // the crossing value's name
  int value = -1;      // its value id
  int after_node = 0;  // the prefix is graph.nodes[0..after_node]
  ElementType type = ElementType::kFloat32;
  Shape shape;               // from shape inference; -1 for an unknown dimension
  int64_t bytes = -1;        // -1 when the shape is not fully static
  double prefix_cost = 0.0;  // share of the estimated FLOPs in nodes [0, after_node]
};

// Every candidate cut, in topological order. Empty for a graph of fewer than
// two nodes or without a single-tensor cut.
std::vector<CutPoint> FindCutPoints(const Graph& graph);

// The node ranges that run the prefix and the suffix of `cut` on `graph`
// (the graph FindCutPoints saw): the prefix binds the graph inputs and
// returns the cut value, the suffix binds the cut value and returns the
// graph outputs.
GraphRange PrefixRange(const Graph& graph, const CutPoint& cut);
GraphRange SuffixRange(const Graph& graph, const CutPoint& cut);

// The cut named `tensor`, or nullopt.
std::optional<CutPoint> FindCut(const std::vector<CutPoint>& cuts, const std::string& tensor);

}  // namespace stoa::functions::onnx
