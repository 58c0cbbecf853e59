// The planned memory of a loaded graph, for the load-time check of its
// memory budget: the bytes of its constants (initializers and folded
// values) plus the largest set of intermediate tensors alive at once when
// the nodes run in order, sized from the shapes inference found. A
// symbolic dimension counts as 1 (the smallest request) and a value of
// unknown shape as 0, so the plan is a lower bound on what a call needs;
// the interpreter enforces the budget per call on the real shapes.
// Subgraphs count too: their constants, and while a control-flow node runs,
// the largest peak among its subgraphs on top of what is live outside.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/model_limits.h"

namespace stoa::functions::onnx {

struct MemoryPlan {
  int64_t constant_bytes = 0;
  int64_t intermediate_bytes = 0;  // the peak of live inputs and node outputs
  int64_t peak_bytes() const { return constant_bytes + intermediate_bytes; }
};

MemoryPlan PlanMemory(const Graph& graph);

// INVALID_ARGUMENT when plan.peak_bytes() passes limits.memory_bytes:
// "model needs N bytes at its planned peak (constants C, intermediates I);
// the limit is M bytes (ONNX memory limit: <source>)".
absl::Status CheckMemoryPlan(const MemoryPlan& plan, const ModelLimits& limits);

}  // namespace stoa::functions::onnx
