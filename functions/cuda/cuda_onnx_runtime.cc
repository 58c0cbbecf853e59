#include "functions/cuda/cuda_onnx_runtime.h"

#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "functions/cuda/cuda_plan.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/onnx_runtime.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/wire_tensor.h"
#include "functions/wasm/wasm_runtime.h"
#include "spdlog/spdlog.h"

namespace stoa::functions::cuda {
namespace {

using onnx::Tensor;

class CudaFunction final : public LoadedFunction {
 public:
  CudaFunction(LoadedFunctionPtr cpu, std::unique_ptr<onnx::Graph> graph,
               std::unique_ptr<CudaGraphRunner> gpu, PlacementInfo placement,
               const common::Clock& clock, int64_t memory_bytes)
      : cpu_(std::move(cpu)),
        graph_(std::move(graph)),
        gpu_(std::move(gpu)),
        placement_(std::move(placement)),
        clock_(clock),
        memory_bytes_(memory_bytes) {}

  const v1::FunctionSpec& spec() const override { return cpu_->spec(); }
  const PlacementInfo& placement() const { return placement_; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    // Split parts run on the CPU engine, which holds the cut points.
    if (gpu_ == nullptr || input.part != GraphPart::kWhole) return cpu_->Invoke(input);
    const int64_t start_us = clock_.NowMicros();
    absl::StatusOr<std::vector<Tensor>> inputs =
        onnx::RequestTensors(spec().inputs(), input.tensors);
    if (!inputs.ok()) return inputs.status();
    if (!MayFitBudget(*inputs)) return cpu_->Invoke(input);
    absl::StatusOr<std::vector<Tensor>> outputs = gpu_->Run(*inputs);
    if (outputs.status().code() == absl::StatusCode::kResourceExhausted ||
        outputs.status().code() == absl::StatusCode::kUnimplemented) {
      return InvokeOnCpu(input, clock_.NowMicros() - start_us);
    }
    if (!outputs.ok()) return outputs.status();
    InvocationOutput out;
    out.tensors = onnx::ResponseTensors(spec().outputs(), *outputs);
    return out;
  }

 private:
  // The rerun of a request the device gave up on, with what is left of its
  // budget.
  absl::StatusOr<InvocationOutput> InvokeOnCpu(const InvocationInput& input, int64_t spent_us) {
    if (input.budget_us == 0) return cpu_->Invoke(input);
    if (spent_us >= input.budget_us) {
      return absl::DeadlineExceededError(absl::StrCat("function '", spec().name(),
                                                      "': its budget ran out on the GPU (",
                                                      spent_us, " us) before the CPU rerun"));
    }
    InvocationInput rest = input;
    rest.budget_us = input.budget_us - spent_us;
    return cpu_->Invoke(rest);
  }

  // False when the constants plus every value's tensor for these inputs
  // pass the budget; shapes the plan cannot infer are left to the runner.
  bool MayFitBudget(const std::vector<Tensor>& inputs) const {
    std::vector<onnx::Shape> shapes;
    for (const Tensor& t : inputs) shapes.push_back(t.shape());
    absl::StatusOr<std::vector<onnx::Shape>> values = InferShapes(*graph_, shapes);
    if (!values.ok()) return true;
    int64_t total = graph_->constant_bytes;
    for (size_t v = 0; v < values->size(); ++v) {
      if (graph_->constants[v].has_value()) continue;
      const int64_t bytes = onnx::TensorBytes(onnx::ElementType::kFloat32, (*values)[v]);
      if (__builtin_add_overflow(total, bytes, &total)) return false;
    }
    return total <= memory_bytes_;
  }

  const LoadedFunctionPtr cpu_;
  const std::unique_ptr<onnx::Graph> graph_;  // before gpu_: it refers to the graph
  const std::unique_ptr<CudaGraphRunner> gpu_;
  const PlacementInfo placement_;
  const common::Clock& clock_;
  const int64_t memory_bytes_;
};

// The graph for the device, or the reason it stays on the CPU.
absl::StatusOr<std::unique_ptr<onnx::Graph>> BuildForDevice(std::string_view artifact) {
  ::onnx::ModelProto model;
  if (artifact.size() > static_cast<size_t>(INT_MAX) ||
      !model.ParseFromArray(artifact.data(), static_cast<int>(artifact.size()))) {
    return absl::InvalidArgumentError("the model does not parse");
  }
  // The CPU load before this one enforced the function's limits.
  onnx::ModelLimits unlimited;
  unlimited.max_nodes = INT64_MAX;
  unlimited.max_initializer_bytes = INT64_MAX;
  unlimited.memory_bytes = INT64_MAX;
  absl::StatusOr<onnx::Graph> graph = onnx::BuildGraph(model, onnx::DefaultOpRegistry(), unlimited);
  if (!graph.ok()) return graph.status();
  return std::make_unique<onnx::Graph>(*std::move(graph));
}

}  // namespace

CudaOnnxRuntime::CudaOnnxRuntime(FunctionRuntimePtr cpu, const common::Clock& clock,
                                 OnnxRuntimeOptions limits)
    : cpu_(std::move(cpu)), clock_(clock), limits_(limits) {}

absl::StatusOr<LoadedFunctionPtr> CudaOnnxRuntime::Load(const v1::FunctionSpec& spec,
                                                        std::string_view artifact) {
  absl::StatusOr<LoadedFunctionPtr> cpu = cpu_->Load(spec, artifact);
  if (!cpu.ok()) return cpu.status();
  PlacementInfo placement;
  std::unique_ptr<onnx::Graph> graph;
  std::unique_ptr<CudaGraphRunner> gpu;
  try {
    absl::StatusOr<std::unique_ptr<onnx::Graph>> built = BuildForDevice(artifact);
    absl::StatusOr<std::unique_ptr<CudaGraphRunner>> runner =
        built.ok() ? CudaGraphRunner::Create(**built) : built.status();
    if (runner.ok()) {
      graph = *std::move(built);
      gpu = *std::move(runner);
      placement.on_gpu = true;
      placement.reason = "CUDA device 0";
    } else {
      placement.reason = std::string(runner.status().message());
    }
  } catch (const std::exception& e) {
    placement.reason = absl::StrCat("building the device graph threw: ", e.what());
  }
  if (!placement.on_gpu) {
    spdlog::info("function '{}' runs on the CPU: {}", spec.name(), placement.reason);
  }
  return std::make_unique<CudaFunction>(*std::move(cpu), std::move(graph), std::move(gpu),
                                        std::move(placement), clock_,
                                        OnnxLimitsFor(spec, limits_).memory_bytes);
}

std::optional<PlacementInfo> GetPlacement(const LoadedFunction& fn) {
  const auto* cuda = dynamic_cast<const CudaFunction*>(&fn);
  if (cuda == nullptr) return std::nullopt;
  return cuda->placement();
}

RuntimeSet CudaRuntimes(const RuntimeOptions& options) {
  RuntimeSet set;
  set.Add(std::make_unique<CudaOnnxRuntime>(std::make_unique<OnnxRuntime>(OnnxOptionsFrom(options)),
                                            *options.clock, OnnxOptionsFrom(options)));
  set.Add(std::make_unique<WasmRuntime>(WasmOptionsFrom(options)));
  return set;
}

}  // namespace stoa::functions::cuda
