#include "functions/cuda/cuda_onnx_runtime.h"

#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "functions/cuda/cuda_graph_runner.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/onnx_runtime.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/request_tensor.h"
#include "functions/wasm/wasm_runtime.h"
#include "spdlog/spdlog.h"

namespace stoa::functions::cuda {
namespace {

using onnx::GraphPort;
using onnx::Shape;
using onnx::ShapeString;
using onnx::Tensor;

class CudaFunction final : public LoadedFunction {
 public:
  CudaFunction(LoadedFunctionPtr cpu, std::unique_ptr<onnx::Graph> graph,
               std::unique_ptr<CudaGraphRunner> gpu, PlacementInfo placement)
      : cpu_(std::move(cpu)),
        graph_(std::move(graph)),
        gpu_(std::move(gpu)),
        placement_(std::move(placement)) {}

  const v1::FunctionSpec& spec() const override { return cpu_->spec(); }
  const PlacementInfo& placement() const { return placement_; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    if (gpu_ == nullptr) return cpu_->Invoke(input);
    absl::StatusOr<std::vector<Tensor>> inputs = Match(input.tensors);
    if (!inputs.ok()) return inputs.status();
    absl::StatusOr<std::vector<Tensor>> outputs = gpu_->Run(*inputs);
    if (outputs.status().code() == absl::StatusCode::kResourceExhausted ||
        outputs.status().code() == absl::StatusCode::kUnimplemented) {
      return cpu_->Invoke(input);
    }
    if (!outputs.ok()) return outputs.status();
    InvocationOutput out;
    for (size_t i = 0; i < outputs->size(); ++i) {
      const Tensor& t = (*outputs)[i];
      v1::Tensor& o = out.tensors.emplace_back();
      o.set_name(graph_->outputs[i].name);
      o.set_datatype(v1::FP32);
      for (int64_t d : t.shape()) o.add_shape(d);
      o.set_raw(reinterpret_cast<const char*>(t.floats().data()), t.floats().size_bytes());
    }
    return out;
  }

 private:
  absl::StatusOr<std::vector<Tensor>> Match(const std::vector<v1::Tensor>& given) const {
    const auto& ports = graph_->inputs;
    std::vector<const v1::Tensor*> by_port(ports.size(), nullptr);
    for (const v1::Tensor& t : given) {
      size_t i = 0;
      while (i < ports.size() && ports[i].name != t.name()) ++i;
      if (i == ports.size() && t.name().empty() && ports.size() == 1) i = 0;
      if (i == ports.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unexpected input '", t.name(), "'"));
      }
      if (by_port[i] != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", ports[i].name, "' is given twice"));
      }
      by_port[i] = &t;
    }
    std::vector<Tensor> tensors;
    for (size_t i = 0; i < ports.size(); ++i) {
      if (by_port[i] == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("missing input '", ports[i].name, "' (FP32 ",
                                                       ShapeString(ports[i].shape), ")"));
      }
      absl::StatusOr<Tensor> t = onnx::ToEngineTensor(ports[i], *by_port[i]);
      if (!t.ok()) return t.status();
      tensors.push_back(*std::move(t));
    }
    return tensors;
  }

  const LoadedFunctionPtr cpu_;
  const std::unique_ptr<onnx::Graph> graph_;  // before gpu_: it refers to the graph
  const std::unique_ptr<CudaGraphRunner> gpu_;
  const PlacementInfo placement_;
};

// The graph for the device, or the reason it stays on the CPU.
absl::StatusOr<std::unique_ptr<onnx::Graph>> BuildForDevice(std::string_view artifact) {
  ::onnx::ModelProto model;
  if (artifact.size() > static_cast<size_t>(INT_MAX) ||
      !model.ParseFromArray(artifact.data(), static_cast<int>(artifact.size()))) {
    return absl::InvalidArgumentError("the model does not parse");
  }
  absl::StatusOr<onnx::Graph> graph = onnx::BuildGraph(model, onnx::DefaultOpRegistry());
  if (!graph.ok()) return graph.status();
  return std::make_unique<onnx::Graph>(*std::move(graph));
}

}  // namespace

CudaOnnxRuntime::CudaOnnxRuntime(FunctionRuntimePtr cpu) : cpu_(std::move(cpu)) {}

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
                                        std::move(placement));
}

std::optional<PlacementInfo> GetPlacement(const LoadedFunction& fn) {
  const auto* cuda = dynamic_cast<const CudaFunction*>(&fn);
  if (cuda == nullptr) return std::nullopt;
  return cuda->placement();
}

RuntimeSet CudaRuntimes(const RuntimeOptions& options) {
  RuntimeSet set;
  set.Add(std::make_unique<CudaOnnxRuntime>(std::make_unique<OnnxRuntime>(
      OnnxRuntime::Options{.intra_op_threads = options.intra_op_threads})));
  set.Add(std::make_unique<WasmRuntime>(WasmOptionsFrom(options)));
  return set;
}

}  // namespace stoa::functions::cuda
