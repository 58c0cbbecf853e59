// Built when CUDA is off: graphs are still checked (so the message names an
// unsupported node the same way), then UNAVAILABLE.
#include "common/status_macros.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "functions/cuda/cuda_plan.h"

namespace stoa::functions::cuda {

absl::StatusOr<std::unique_ptr<CudaGraphRunner>> CudaGraphRunner::Create(const onnx::Graph& graph) {
  RETURN_IF_ERROR(CheckCudaSupport(graph));
  return absl::UnavailableError("no CUDA device: built without CUDA");
}

}  // namespace stoa::functions::cuda
