// The names inside an ONNX model that Stoa echoes — graph inputs and
// outputs become the function's signature (GET /v1/functions, KServe
// responses, proto3 strings on the wire to executors), node, value and op
// names appear in error messages — must be UTF-8 and of bounded length.
// ONNX's protobuf schema is proto2, so parsing does not check; CheckModelNames
// does, before anything else reads the graph.
//
// Refusals are INVALID_ARGUMENT naming the place, the byte offset of the
// first bad byte or the length, and the limit, e.g. "graph output #0 name
// is not valid UTF-8 (byte 3 is 0xff); ONNX names must be UTF-8" or
// "node #12 name is 5000 bytes long; the limit is 1024 bytes".
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

inline constexpr size_t kMaxOnnxNameBytes = 1024;

absl::Status CheckModelNames(const ::onnx::ModelProto& model);
// The same checks for one graph (the main graph or a subgraph of If/Loop).
absl::Status CheckGraphNames(const ::onnx::GraphProto& graph);

}  // namespace stoa::functions::onnx
