// The `onnx` FunctionRuntime of an executor that selected a CUDA device:
// each model runs on the GPU through a CudaGraphRunner when it can, and
// on the CPU engine otherwise.
//
// Load: the CPU runtime (`cpu`, an OnnxRuntime) loads the artifact first, so
// validation, error messages and the derived signature are exactly the CPU
// engine's. Then the graph is built again and handed to
// CudaGraphRunner::Create; if that fails (no device, built without CUDA,
// an op the CUDA kernels lack), the function stays on the CPU and the
// reason is logged once (spdlog::info) and kept in cuda_status().
//
// Invoke on the GPU: inputs are matched and checked as the CPU engine does
// (onnx/wire_tensor.h: by name; a single unnamed tensor for a single-input
// model; FP32; the declared shape with -1 free; byte count).
// RESOURCE_EXHAUSTED from the device (out of memory for this request) and
// UNIMPLEMENTED (shapes the CUDA kernels do not cover) rerun that request on the CPU with what is
// left of its budget (DEADLINE_EXCEEDED when nothing is); other device
// errors are returned. The device run itself is not stopped by the budget.
// Memory: a request whose constants plus every intermediate (summed, an
// upper bound on the device arena) could pass the function's memory budget
// goes to the CPU engine, which refuses it there only if its live tensors
// really would (docs/limits.md).
//
// Thread safety: as FunctionRuntime / LoadedFunction (concurrent Load and
// Invoke; device runs are serialised per function by its runner).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "functions/function_runtime.h"
#include "functions/onnx/onnx_runtime.h"

namespace stoa::functions::cuda {

class CudaOnnxRuntime final : public FunctionRuntime {
 public:
  // `clock` measures what is left of an invocation's budget when the
  // device gives up on it; it must outlive the runtime and its functions.
  // `limits` are the CPU runtime's (OnnxLimitsFor): a request whose
  // tensors on the device could pass the function's memory budget runs on
  // the CPU engine instead, which enforces the budget node by node.
  explicit CudaOnnxRuntime(FunctionRuntimePtr cpu,
                           const common::Clock& clock = common::RealClock::Get(),
                           OnnxRuntimeOptions limits = {});

  std::string_view name() const override { return "onnx"; }
  absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                         std::string_view artifact) override;

 private:
  const FunctionRuntimePtr cpu_;
  const common::Clock& clock_;
  const OnnxRuntimeOptions limits_;
};

// What a loaded function runs on: "cuda", or "cpu" with the reason.
struct PlacementInfo {
  bool on_gpu = false;
  std::string reason;
};
// For functions loaded by CudaOnnxRuntime; nullopt for any other function.
std::optional<PlacementInfo> GetPlacement(const LoadedFunction& fn);

// DefaultRuntimes() with CudaOnnxRuntime as the `onnx` runtime.
RuntimeSet CudaRuntimes(const RuntimeOptions& options = {});

}  // namespace stoa::functions::cuda
