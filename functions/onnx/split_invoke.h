// Runs one part of a split ONNX function (InvocationInput::part, docs/split.md)
// and converts cut points to their wire form (v1::SplitCut).
//
// RunSplitPart errors (INVALID_ARGUMENT, naming the problem): a function
// loaded without spec.split ("function 'f' was not registered with
// \"split\": true"), a split_cut that is not one of its cut points ("function
// 'f' has no cut point 'x'; its cuts are: a, b"), a suffix call whose
// tensor does not match the cut's datatype/shape/bytes; then those of
// RunGraphPart (interpreter.h).
//
// Thread safety: pure functions over an immutable Graph.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "functions/function_runtime.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/split_graph.h"

namespace stoa::functions::onnx {

v1::SplitCut ToWire(const CutPoint& cut);

// `graph` is the base plan the cuts were found on; `spec` the loaded spec
// (its name, inputs and outputs). The prefix returns one tensor named after
// the cut; the suffix returns the function's outputs.
absl::StatusOr<InvocationOutput> RunSplitPart(const Graph& graph, const std::vector<CutPoint>& cuts,
                                              const v1::FunctionSpec& spec,
                                              const InvocationInput& input,
                                              const common::Clock& clock, int64_t deadline_us);

}  // namespace stoa::functions::onnx
