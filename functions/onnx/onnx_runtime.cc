#include "functions/onnx/onnx_runtime.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "functions/onnx/fusion.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/model_file.h"
#include "functions/onnx/model_limits.h"
#include "functions/onnx/parallel.h"
#include "functions/onnx/plan_cache.h"
#include "functions/onnx/split_invoke.h"
#include "functions/onnx/wire_tensor.h"
#include "onnx/checker.h"

namespace stoa::functions {
namespace {

using onnx::Graph;
using onnx::GraphPort;
using onnx::Shape;
using onnx::Tensor;

absl::Status NotAModel(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("artifact is not a valid ONNX model: ", why));
}

bool ImportsDefaultOpset(const ::onnx::ModelProto& model) {
  for (const auto& import : model.opset_import()) {
    if (import.domain().empty() || import.domain() == "ai.onnx") return true;
  }
  return false;
}

void SortNodes(const Graph& graph, ::onnx::ModelProto& model) {
  auto* nodes = model.mutable_graph()->mutable_node();
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> sorted;
  for (int index : graph.model_order) *sorted.Add() = std::move(*nodes->Mutable(index));
  nodes->Swap(&sorted);
}

v1::TensorSignature PortSignature(const GraphPort& port) {
  v1::TensorSignature sig;
  sig.set_name(port.name);
  sig.set_datatype(onnx::WireType(port.type));
  for (int64_t d : port.shape) sig.add_shape(d);
  return sig;
}

}  // namespace

onnx::ModelLimits OnnxLimitsFor(const v1::FunctionSpec& spec, const OnnxRuntimeOptions& options) {
  onnx::ModelLimits limits;
  limits.max_nodes = options.max_nodes;
  limits.max_initializer_bytes = options.max_initializer_mb << 20;
  limits.memory_bytes = options.max_memory_mb << 20;
  limits.memory_source = "--onnx-max-memory-mb";
  const int64_t asked = spec.limits().memory_mb();
  if (asked > 0 && asked <= options.max_memory_mb) {
    limits.memory_bytes = asked << 20;
    limits.memory_source = "limits.memory_mb of the spec";
  } else if (asked > options.max_memory_mb) {
    limits.memory_source =
        absl::StrCat("limits.memory_mb ", asked, " of the spec, capped at --onnx-max-memory-mb ",
                     options.max_memory_mb);
  }
  return limits;
}

namespace {

class OnnxFunction final : public LoadedFunction {
 public:
  OnnxFunction(v1::FunctionSpec spec, std::shared_ptr<const Graph> graph,
               std::unique_ptr<onnx::PlanCache> plans, int threads,
               std::shared_ptr<onnx::IntraOpPool> pool, const common::Clock& clock,
               onnx::ModelLimits limits, std::vector<onnx::CutPoint> cuts)
      : spec_(std::move(spec)),
        graph_(std::move(graph)),
        plans_(std::move(plans)),
        threads_(threads),
        pool_(std::move(pool)),
        clock_(clock),
        limits_(std::move(limits)),
        cuts_(std::move(cuts)) {}

  const v1::FunctionSpec& spec() const override { return spec_; }

  absl::StatusOr<InvocationOutput> Invoke(const InvocationInput& input) override {
    const int64_t deadline_us = input.budget_us > 0 ? clock_.NowMicros() + input.budget_us : 0;
    if (input.part != GraphPart::kWhole) return InvokePart(input, deadline_us);
    absl::StatusOr<std::vector<Tensor>> inputs =
        onnx::RequestTensors(spec_.inputs(), input.tensors);
    if (!inputs.ok()) return inputs.status();
    onnx::ScopedParallelism parallel({.pool = pool_.get(), .threads = threads_});
    std::unique_ptr<onnx::BufferPool> buffers = TakeBuffers();
    onnx::ScopedBufferPool scoped_buffers(buffers.get());
    std::shared_ptr<const Graph> plan = graph_;
    if (plans_ != nullptr) {
      std::vector<Shape> shapes;
      for (const Tensor& t : *inputs) shapes.push_back(t.shape());
      plan = plans_->ForShapes(shapes);
    }
    onnx::MemoryBudget budget(limits_.memory_bytes, limits_.memory_source, plan->constant_bytes);
    onnx::ScopedMemoryBudget scoped_budget(&budget);
    absl::StatusOr<std::vector<Tensor>> outputs =
        onnx::RunGraph(*plan, *std::move(inputs), clock_, deadline_us, input.cancel);
    if (!outputs.ok()) return outputs.status();
    InvocationOutput out;
    out.tensors = onnx::ResponseTensors(spec_.outputs(), *outputs);
    for (Tensor& t : *outputs) buffers->Give(std::move(t).TakeFloatStorage());
    ReturnBuffers(std::move(buffers));
    return out;
  }

 private:
  // Split inference: the cut points belong to the base plan, which takes
  // any shape.
  absl::StatusOr<InvocationOutput> InvokePart(const InvocationInput& input, int64_t deadline_us) {
    onnx::ScopedParallelism parallel({.pool = pool_.get(), .threads = threads_});
    std::unique_ptr<onnx::BufferPool> buffers = TakeBuffers();
    onnx::ScopedBufferPool scoped_buffers(buffers.get());
    onnx::MemoryBudget budget(limits_.memory_bytes, limits_.memory_source, graph_->constant_bytes);
    onnx::ScopedMemoryBudget scoped_budget(&budget);
    absl::StatusOr<InvocationOutput> out =
        onnx::RunSplitPart(*graph_, cuts_, spec_, input, clock_, deadline_us);
    ReturnBuffers(std::move(buffers));
    return out;
  }

  // Buffer pools survive between invocations (one per concurrent call).
  std::unique_ptr<onnx::BufferPool> TakeBuffers() {
    absl::MutexLock lock(&mu_);
    if (idle_buffers_.empty()) return std::make_unique<onnx::BufferPool>();
    std::unique_ptr<onnx::BufferPool> pool = std::move(idle_buffers_.back());
    idle_buffers_.pop_back();
    return pool;
  }
  void ReturnBuffers(std::unique_ptr<onnx::BufferPool> pool) {
    absl::MutexLock lock(&mu_);
    if (idle_buffers_.size() < kMaxIdleBufferPools) idle_buffers_.push_back(std::move(pool));
  }

  const v1::FunctionSpec spec_;
  // The base plan: serves any input shape, and every shape when plans_ is null.
  const std::shared_ptr<const Graph> graph_;
  const std::unique_ptr<onnx::PlanCache> plans_;
  const int threads_;
  const std::shared_ptr<onnx::IntraOpPool> pool_;
  const common::Clock& clock_;
  const onnx::ModelLimits limits_;
  const std::vector<onnx::CutPoint> cuts_;  // empty unless spec_.split()
  static constexpr size_t kMaxIdleBufferPools = 8;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<onnx::BufferPool>> idle_buffers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

OnnxRuntime::OnnxRuntime() : OnnxRuntime(onnx::DefaultOpRegistry()) {}

OnnxRuntime::OnnxRuntime(Options options) : OnnxRuntime(onnx::DefaultOpRegistry(), options) {}

OnnxRuntime::OnnxRuntime(onnx::OpRegistry registry, Options options)
    : registry_(std::move(registry)),
      options_(options),
      clock_(*options.clock),
      threads_(std::max(1, options.intra_op_threads)),
      pool_(threads_ > 1 ? std::make_shared<onnx::IntraOpPool>(threads_ - 1) : nullptr) {}

absl::StatusOr<LoadedFunctionPtr> OnnxRuntime::Load(const v1::FunctionSpec& spec,
                                                    std::string_view artifact) {
  if (artifact.empty()) return NotAModel("the artifact is empty");
  if (artifact.size() > static_cast<size_t>(INT_MAX)) return NotAModel("larger than 2 GiB");
  const onnx::ModelLimits limits = OnnxLimitsFor(spec, options_);
  // Before parsing: the parser would build every NodeProto of a huge graph.
  if (absl::Status nodes = onnx::CheckNodeCount(artifact, limits); !nodes.ok()) return nodes;
  try {
    ::onnx::ModelProto model;
    if (!model.ParseFromArray(artifact.data(), static_cast<int>(artifact.size()))) {
      return NotAModel(absl::StrCat("protobuf parsing failed (corrupt or truncated, ",
                                    artifact.size(), " bytes)"));
    }
    return LoadModel(spec, std::move(model), nullptr);
  } catch (const std::exception& e) {
    return NotAModel(e.what());
  }
}

absl::StatusOr<LoadedFunctionPtr> OnnxRuntime::LoadFile(const v1::FunctionSpec& spec,
                                                        const std::string& path) {
  const onnx::ModelLimits limits = OnnxLimitsFor(spec, options_);
  absl::StatusOr<onnx::ModelFile> file = onnx::ReadModelFile(path, 64 * 1024, &limits);
  if (!file.ok()) return file.status();
  if (file->file_bytes > static_cast<uint64_t>(INT_MAX)) return NotAModel("larger than 2 GiB");
  if (file->weights.empty()) return FunctionRuntime::LoadFile(spec, path);
  try {
    return LoadModel(spec, std::move(file->skeleton), &file->weights);
  } catch (const std::exception& e) {
    return NotAModel(e.what());
  }
}

absl::StatusOr<LoadedFunctionPtr> OnnxRuntime::LoadModel(
    const v1::FunctionSpec& spec, ::onnx::ModelProto model,
    std::map<std::string, onnx::Tensor>* weights) {
  const onnx::ModelLimits limits = OnnxLimitsFor(spec, options_);
  if (model.ir_version() <= 0) return NotAModel("ir_version is not set");
  if (!model.has_graph()) return NotAModel("it has no graph");
  if (!ImportsDefaultOpset(model)) {
    return NotAModel("it imports no version of the default ONNX domain (opset_import)");
  }
  absl::StatusOr<Graph> graph = onnx::BuildGraph(model, registry_, limits, weights);
  if (!graph.ok()) return graph.status();
  onnx::OptimizeForCpu(*graph);
  // The checker wants nodes in topological order; the engine accepts any
  // acyclic order, so check the model in the order the engine runs it.
  SortNodes(*graph, model);
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return NotAModel(e.what());
  }
  v1::FunctionSpec loaded = spec;
  if (loaded.runtime().empty()) loaded.set_runtime("onnx");
  loaded.clear_inputs();
  loaded.clear_outputs();
  for (const GraphPort& p : graph->inputs) *loaded.add_inputs() = PortSignature(p);
  for (const GraphPort& p : graph->outputs) *loaded.add_outputs() = PortSignature(p);
  std::vector<onnx::CutPoint> cuts;
  if (spec.split()) {
    cuts = onnx::FindCutPoints(*graph);
    if (cuts.empty()) {
      return absl::InvalidArgumentError(
          "split: the model has no cut point (no place in its topological order where exactly "
          "one tensor crosses from the prefix to the suffix)");
    }
    loaded.clear_split_cuts();
    for (const onnx::CutPoint& c : cuts) *loaded.add_split_cuts() = onnx::ToWire(c);
  }
  auto base = std::make_shared<const Graph>(*std::move(graph));
  std::unique_ptr<onnx::PlanCache> plans;
  // Re-planning rebuilds from the proto, which a file load keeps without
  // its weights: such a model runs its base graph, which takes any shape.
  if (weights == nullptr && onnx::PlanCache::Worthwhile(*base)) {
    plans = std::make_unique<onnx::PlanCache>(std::move(model), base, registry_,
                                              /*capacity=*/8, limits);
  }
  return std::make_unique<OnnxFunction>(std::move(loaded), std::move(base), std::move(plans),
                                        threads_, pool_, clock_, limits, std::move(cuts));
}

}  // namespace stoa::functions
