// Load-time analysis of ONNX subgraphs: the graph attributes of control-flow
// nodes (If's then_branch/else_branch, Loop's body), which may nest and may
// read values of the graphs that enclose them ("outer scope").
//
// CheckNestedGraphs runs before anything is built, on the parsed model, so
// that a crafted model is refused by its counts rather than by what building
// it would cost. Refusals are INVALID_ARGUMENT and name their limit:
//  - "subgraphs nest 17 deep (at node 'loop' (#3), attribute 'body'); the
//    limit is 16 (ONNX subgraph depth limit)";
//  - "model has 100001 nodes (subgraphs included); the limit is 100000 nodes
//    (ONNX graph node limit: --onnx-max-nodes)";
//  - initializers of all graphs together past max_initializer_bytes;
//  - names inside subgraphs that are not UTF-8 or too long (model_names.h);
//  - a GRAPHS (list of graphs) attribute, which no supported op uses.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "functions/onnx/model_limits.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

absl::Status CheckNestedGraphs(const ::onnx::GraphProto& main, const ModelLimits& limits);

// The names `graph` reads without defining them: node inputs, graph outputs
// and (transitively) the free names of nested subgraphs, minus the graph's
// inputs, initializers and node outputs. In order of first use, each once.
// These are the outer-scope values a control-flow node hands its subgraph.
std::vector<std::string> FreeNames(const ::onnx::GraphProto& graph);

}  // namespace stoa::functions::onnx
