// The operator's limits on an ONNX model (docs/limits.md, "Functions"):
// graph nodes, initializer bytes, the default opset range, and the memory
// budget a loaded function works within (memory_budget.h).
//
// CountGraphNodes reads the serialized model without parsing it into
// messages, so a model of a million nodes is refused before the protobuf
// parser builds a million NodeProtos. The other checks run on the parsed
// model, before the engine converts initializers or builds its graph.
//
// Every refusal is INVALID_ARGUMENT and names its limit, e.g.
// "model has 400000 nodes; the limit is 100000 nodes (ONNX graph node
// limit: --onnx-max-nodes)".
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

struct ModelLimits {
  // Nodes of the main graph and of every subgraph (If/Loop bodies) together.
  int64_t max_nodes = 100'000;
  // How deeply subgraphs may nest (an If inside a Loop body is depth 2).
  int max_subgraph_depth = 16;
  // Bytes the initializers take once decoded (dims × element size), those of
  // subgraphs included.
  int64_t max_initializer_bytes = int64_t{2048} << 20;
  // The function's memory budget (limits.memory_mb of its spec, else the
  // operator's default) and where it came from, for messages.
  int64_t memory_bytes = int64_t{1024} << 20;
  std::string memory_source = "--onnx-max-memory-mb";
};

// Versions of the default ONNX domain the engine accepts: 1 to the newest
// that libonnx knows (17 with Debian 12's libonnx 1.12).
int64_t MaxSupportedOpset();

// Refuses a serialized ModelProto whose main graph has more than
// limits.max_nodes nodes. Bytes that are not a valid model are left to the
// parser (OK here).
absl::Status CheckNodeCount(std::string_view artifact, const ModelLimits& limits);

// Refuses an opset of the default domain outside 1..MaxSupportedOpset().
absl::Status CheckOpset(int64_t opset);

// Refuses initializers whose decoded size passes limits.max_initializer_bytes
// (computed from their declared dims and types, before decoding them).
absl::Status CheckInitializerBytes(const ::onnx::GraphProto& graph, const ModelLimits& limits);

}  // namespace stoa::functions::onnx
