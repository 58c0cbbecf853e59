// Runs a Graph once on the CPU. Stateless apart from the call's own buffers,
// so any number of calls may run on one Graph at once. Intermediate tensors
// are freed after their last consumer; with a BufferPool in scope
// (ScopedBufferPool) their FP32 buffers go back to the pool for the next
// node (and the next invocation) to reuse.
//
// Errors: DEADLINE_EXCEEDED when clock.NowMicros() passes deadline_us
// (checked before every node; 0 = no deadline); CANCELLED when `cancel`
// (nullable) has fired (checked before every node, one atomic load); INVALID_ARGUMENT from a
// kernel, prefixed with the node ("node 'fc1' (#0, Gemm): inner dimensions
// differ ..."); INTERNAL when an output breaks the graph's declared shape.
//
// Memory: with a MemoryBudget in scope on the calling thread
// (ScopedMemoryBudget), the inputs and every intermediate are charged to it
// while alive; a kernel refuses an output that would not fit before
// allocating it, and a node whose outputs took the call past the budget
// fails (INVALID_ARGUMENT naming the limit, prefixed with the node).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cancel_signal.h"
#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::onnx {

// `inputs` in the order of graph.inputs, already checked against their
// declared shapes. Returns the outputs in the order of graph.outputs.
absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& graph, std::vector<Tensor> inputs,
                                             const common::Clock& clock, int64_t deadline_us,
                                             const common::CancelSignal* cancel = nullptr);

// Split inference (split_graph.h): runs nodes [begin, end) of `graph` with
// `inputs` bound to the value ids input_values (every other value those
// nodes read must be a constant or computed in the range), and returns the
// values output_values, or the graph's outputs when output_values is empty.
// Errors as RunGraph's; INTERNAL when a wanted value was not computed.
struct GraphRange {
  size_t begin = 0;
  size_t end = 0;
  std::vector<int> input_values;
  std::vector<int> output_values;
};
absl::StatusOr<std::vector<Tensor>> RunGraphPart(const Graph& graph, const GraphRange& range,
                                                 std::vector<Tensor> inputs,
                                                 const common::Clock& clock, int64_t deadline_us,
                                                 const common::CancelSignal* cancel = nullptr);

// For control-flow kernels (If, Loop): runs a subgraph (NodeSubgraph) on
// the calling thread, under the clock, deadline and cancellation of the
// RunGraph call in progress on it (none outside one, e.g. in tests), with
// the same memory budget and buffer pool. `inputs` are borrowed (formal
// inputs, then captures, in graph.inputs order) and never freed here.
// Returns the outputs in graph.outputs order; errors as RunGraph's.
absl::StatusOr<std::vector<Tensor>> RunSubgraph(const Graph& graph,
                                                std::span<const Tensor* const> inputs);

// DEADLINE_EXCEEDED or CANCELLED, naming `where`, when the RunGraph call in
// progress on this thread has passed its deadline or been cancelled; OK
// otherwise. Loop checks it every iteration, so a loop whose body has no
// nodes still stops.
absl::Status CheckInterrupted(std::string_view where);

}  // namespace stoa::functions::onnx
