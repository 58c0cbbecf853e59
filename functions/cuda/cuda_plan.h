// Host-side planning for the CUDA backend (CudaGraphRunner): everything
// that decides what runs where, computed on the CPU and unit-tested there.
//
//  - CheckCudaSupport: which graphs the CUDA kernels can run. Supported:
//    Gemm, MatMul (2-D), Conv (2-D, any groups/strides/dilations/pads),
//    MaxPool / AveragePool (2-D), GlobalAveragePool, Relu, Sigmoid, Tanh,
//    Add / Sub / Mul / Div (numpy broadcasting, rank <= 6), Softmax (over
//    the last axis), Flatten, Reshape (constant shape), Identity, Dropout.
//    FP32 only; ranks are checked where ONNX shape inference knows them.
//    INVALID_ARGUMENT names the first node that is not supported and why;
//    callers then run the graph on the CPU.
//  - PlanFusion: a Relu whose only input is produced by a Gemm, MatMul,
//    Conv or Add used by nothing else (and not a graph output) is folded
//    into that producer's epilogue, saving a kernel and a buffer.
//  - InferShapes: every value's shape for concrete input shapes.
//  - PlanMemory: offsets of every intermediate in one device arena; values
//    whose lifetimes (first write .. last read, in node order) do not
//    overlap share memory. Plans are cached per input shape by the runner.
//
// Thread safety: free functions over const inputs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "functions/onnx/graph.h"

namespace stoa::functions::cuda {

absl::Status CheckCudaSupport(const onnx::Graph& graph);

// By node index: the node whose epilogue applies this Relu, or -1.
std::vector<int> PlanFusion(const onnx::Graph& graph);

// By value id: the shape of every value (initializers included) for the
// given runtime input shapes (in graph.inputs order). INVALID_ARGUMENT
// naming the node when shapes do not fit; UNIMPLEMENTED naming the node
// when they fit but the CUDA kernels do not cover them (a 1-D window, a
// 3-D MatMul, Softmax over another axis: run that request on the CPU).
absl::StatusOr<std::vector<onnx::Shape>> InferShapes(const onnx::Graph& graph,
                                                     std::span<const onnx::Shape> inputs);

struct BufferRequest {
  int64_t bytes = 0;
  int first = 0;  // node index of the first write (-1: before the first node)
  int last = 0;   // node index of the last read (inclusive)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // by request
  int64_t arena_bytes = 0;
};

// Offsets are multiples of `alignment` (a power of two). Two requests whose
// [first, last] ranges intersect never overlap in memory.
MemoryPlan PlanMemory(std::span<const BufferRequest> requests, int64_t alignment = 256);

}  // namespace stoa::functions::cuda
