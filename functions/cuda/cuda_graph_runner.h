// Runs a loaded ONNX graph (onnx::Graph, as built by BuildGraph for the
// CPU engine) on CUDA device 0.
//
// At Create: CheckCudaSupport (cuda_plan.h) must pass; every initializer is
// uploaded once to device memory; a cuBLAS handle, a stream and a pinned
// host staging buffer are created. Per Run: shapes are inferred for the
// concrete inputs and a memory plan (one arena, buffers reused across
// non-overlapping lifetimes) is computed and cached per input-shape key;
// the arena comes from a caching DeviceMemoryPool over cudaMalloc; inputs are
// copied into the pinned buffer and up with cudaMemcpyAsync on the stream,
// the nodes are launched in order on that stream (cuBLAS for Gemm/MatMul,
// Stoa's kernels for Conv, pooling, Softmax and fused bias/activation and
// broadcast elementwise ops; a Relu after Gemm/MatMul/Conv/Add runs in its
// producer's epilogue), and the outputs come back through the pinned buffer.
//
// Errors: UNAVAILABLE when no device answers or when built without CUDA
// (the caller runs the graph on the CPU); INVALID_ARGUMENT from
// CheckCudaSupport or shape inference, naming the node; UNIMPLEMENTED for
// input shapes the kernels do not cover (see InferShapes); INTERNAL for a
// failing CUDA call (message carries the CUDA error string);
// RESOURCE_EXHAUSTED when device memory runs out for one request.
//
// Thread safety: Run may be called from any number of threads; runs are
// serialised on the runner's one stream (a device runs one graph at a
// time well enough for these model sizes; the batching queue is what
// raises GPU throughput). The Graph must outlive the runner.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/tensor.h"

namespace stoa::functions::cuda {

class CudaGraphRunner {
 public:
  virtual ~CudaGraphRunner() = default;
  CudaGraphRunner(const CudaGraphRunner&) = delete;
  CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

  static absl::StatusOr<std::unique_ptr<CudaGraphRunner>> Create(const onnx::Graph& graph);

  // `inputs` in graph.inputs order (FP32); returns outputs in graph.outputs order.
  virtual absl::StatusOr<std::vector<onnx::Tensor>> Run(
      const std::vector<onnx::Tensor>& inputs) = 0;

 protected:
  CudaGraphRunner() = default;
};

}  // namespace stoa::functions::cuda
