#include "functions/onnx/interpreter.h"

#include <chrono>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "functions/onnx/memory_budget.h"
#include "functions/onnx/profile.h"

namespace stoa::functions::onnx {
namespace {

// The clock, deadline and cancellation of the RunGraph call in progress on
// this thread, for the subgraphs its control-flow nodes run.
struct RunContext {
  const common::Clock* clock = nullptr;
  int64_t deadline_us = 0;
  const common::CancelSignal* cancel = nullptr;
};
thread_local const RunContext* current_run = nullptr;

class ScopedRunContext {
 public:
  explicit ScopedRunContext(const RunContext* context) : previous_(current_run) {
    current_run = context;
  }
  ~ScopedRunContext() { current_run = previous_; }
  ScopedRunContext(const ScopedRunContext&) = delete;
  ScopedRunContext& operator=(const ScopedRunContext&) = delete;

 private:
  const RunContext* previous_;
};

absl::Status Interrupted(const RunContext* run, const std::string& where) {
  if (run == nullptr) return absl::OkStatus();
  if (run->deadline_us > 0 && run->clock->NowMicros() > run->deadline_us) {
    return absl::DeadlineExceededError(absl::StrCat("deadline passed ", where));
  }
  if (run->cancel != nullptr && run->cancel->cancelled()) {
    return absl::CancelledError(absl::StrCat("cancelled by the caller ", where));
  }
  return absl::OkStatus();
}

absl::Status CheckOutput(const GraphPort& port, const Tensor& t) {
  if (!port.has_type) return absl::OkStatus();
  if (t.type() != port.type) {
    return absl::InternalError(absl::StrCat("output '", port.name, "' is ",
                                            ElementTypeName(t.type()), ", the model declares ",
                                            ElementTypeName(port.type)));
  }
  if (!port.has_shape) return absl::OkStatus();
  bool match = t.rank() == static_cast<int64_t>(port.shape.size());
  for (size_t d = 0; match && d < port.shape.size(); ++d) {
    match = port.shape[d] < 0 || port.shape[d] == t.shape()[d];
  }
  if (!match) {
    return absl::InternalError(absl::StrCat("output '", port.name, "' has shape ",
                                            ShapeString(t.shape()), ", the model declares ",
                                            ShapeString(port.shape)));
  }
  return absl::OkStatus();
}

// The values of one run: constants by reference, inputs and node outputs
// owned until their last reader has run, and charged to the thread's
// memory budget (if any) while owned.
class Values {
 public:
  explicit Values(const Graph& graph)
      : env_(graph.value_names.size(), nullptr), owned_(graph.value_names.size()) {
    for (size_t v = 0; v < env_.size(); ++v) {
      if (graph.constants[v].has_value()) env_[v] = &*graph.constants[v];
    }
  }
  ~Values() {
    if (budget_ == nullptr) return;
    for (const auto& t : owned_) {
      if (t.has_value()) budget_->Credit(TensorBytes(*t));
    }
  }
  Values(const Values&) = delete;
  Values& operator=(const Values&) = delete;

  const Tensor* Get(int v) const { return v < 0 ? nullptr : env_[v]; }
  // A value the caller keeps alive for the whole run (a subgraph's input).
  void Borrow(int v, const Tensor* t) { env_[v] = t; }
  // The value, moved out when owned and `last` (no later reader), else copied.
  Tensor Take(int v, bool last) {
    if (!last || !owned_[v].has_value()) return *env_[v];
    if (budget_ != nullptr) budget_->Credit(TensorBytes(*owned_[v]));
    Tensor t = *std::move(owned_[v]);
    owned_[v].reset();
    env_[v] = nullptr;
    return t;
  }
  void Set(int v, Tensor t) {
    if (budget_ != nullptr) {
      if (owned_[v].has_value()) budget_->Credit(TensorBytes(*owned_[v]));
      budget_->Charge(TensorBytes(t));
    }
    owned_[v] = std::move(t);
    env_[v] = &*owned_[v];
  }
  // Drops the inputs of node `k` that no later node reads; their float
  // storage goes back to the thread's buffer pool.
  void ReleaseAfter(const Graph& graph, const Node& node, size_t k) {
    for (int v : node.inputs) {
      if (v < 0 || graph.last_use[v] != static_cast<int>(k) || !owned_[v].has_value()) continue;
      if (budget_ != nullptr) budget_->Credit(TensorBytes(*owned_[v]));
      if (BufferPool* pool = CurrentBufferPool(); pool != nullptr) {
        pool->Give(std::move(*owned_[v]).TakeFloatStorage());
      }
      owned_[v].reset();
      env_[v] = nullptr;
    }
  }

 private:
  MemoryBudget* const budget_ = CurrentMemoryBudget();
  std::vector<const Tensor*> env_;
  std::vector<std::optional<Tensor>> owned_;
};

absl::Status RunNode(const Node& node, Values& values, std::vector<const Tensor*>& args) {
  args.clear();
  for (int v : node.inputs) args.push_back(values.Get(v));
  absl::StatusOr<std::vector<Tensor>> result = node.kernel.run(node, args);
  if (!result.ok()) {
    return absl::Status(
        result.status().code(),
        absl::StrCat(node.Describe(), ": ", std::string(result.status().message())));
  }
  if (result->size() < node.outputs.size()) {
    return absl::InternalError(absl::StrCat(node.Describe(), " produced ", result->size(),
                                            " outputs, expected ", node.outputs.size()));
  }
  for (size_t j = 0; j < node.outputs.size(); ++j) {
    if (node.outputs[j] >= 0) values.Set(node.outputs[j], std::move((*result)[j]));
  }
  // Outputs whose kernel could not check them before allocating (their
  // size follows from their inputs') still count against the budget.
  if (const MemoryBudget* budget = CurrentMemoryBudget(); budget != nullptr) {
    return budget->CheckUsed(node.Describe());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> CollectOutputs(const Graph& graph, Values& values) {
  for (const GraphPort& port : graph.outputs) {
    const Tensor* t = values.Get(port.value);
    if (t == nullptr) {
      return absl::InternalError(absl::StrCat("output '", port.name, "' was not computed"));
    }
    absl::Status ok = CheckOutput(port, *t);
    if (!ok.ok()) return ok;
  }
  std::vector<Tensor> outputs;
  outputs.reserve(graph.outputs.size());
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    bool last = true;  // the same value may be named by two outputs
    for (size_t j = i + 1; j < graph.outputs.size(); ++j) {
      if (graph.outputs[j].value == graph.outputs[i].value) last = false;
    }
    outputs.push_back(values.Take(graph.outputs[i].value, last));
  }
  return outputs;
}

absl::Status RunRange(const Graph& graph, Values& values, size_t begin, size_t end) {
  std::vector<const Tensor*> args;
  const size_t n = graph.nodes.size();
  for (size_t k = begin; k < end; ++k) {
    if (current_run != nullptr) {
      absl::Status s = Interrupted(current_run, absl::StrCat("after ", k, " of ", n, " nodes"));
      if (!s.ok()) return s;
    }
    const Node& node = graph.nodes[k];
    if (ProfilingEnabled()) {
      const auto start = std::chrono::steady_clock::now();
      absl::Status s = RunNode(node, values, args);
      RecordNodeTime(node, std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count());
      if (!s.ok()) return s;
    } else if (absl::Status s = RunNode(node, values, args); !s.ok()) {
      return s;
    }
    values.ReleaseAfter(graph, node, k);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunNodes(const Graph& graph, Values& values) {
  if (absl::Status s = RunRange(graph, values, 0, graph.nodes.size()); !s.ok()) return s;
  return CollectOutputs(graph, values);
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& graph, std::vector<Tensor> inputs,
                                             const common::Clock& clock, int64_t deadline_us,
                                             const common::CancelSignal* cancel) {
  if (inputs.size() != graph.inputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph takes ", graph.inputs.size(), " inputs, got ", inputs.size()));
  }
  const RunContext run{.clock = &clock, .deadline_us = deadline_us, .cancel = cancel};
  ScopedRunContext scoped(&run);
  Values values(graph);
  for (size_t i = 0; i < inputs.size(); ++i)
    values.Set(graph.inputs[i].value, std::move(inputs[i]));
  return RunNodes(graph, values);
}

absl::StatusOr<std::vector<Tensor>> RunGraphPart(const Graph& graph, const GraphRange& range,
                                                 std::vector<Tensor> inputs,
                                                 const common::Clock& clock, int64_t deadline_us,
                                                 const common::CancelSignal* cancel) {
  if (inputs.size() != range.input_values.size() || range.begin > range.end ||
      range.end > graph.nodes.size()) {
    return absl::InternalError(absl::StrCat("graph part takes ", range.input_values.size(),
                                            " inputs, got ", inputs.size()));
  }
  const RunContext run{.clock = &clock, .deadline_us = deadline_us, .cancel = cancel};
  ScopedRunContext scoped(&run);
  Values values(graph);
  for (size_t i = 0; i < inputs.size(); ++i)
    values.Set(range.input_values[i], std::move(inputs[i]));
  if (absl::Status s = RunRange(graph, values, range.begin, range.end); !s.ok()) return s;
  if (range.output_values.empty()) return CollectOutputs(graph, values);
  std::vector<Tensor> outputs;
  for (int v : range.output_values) {
    if (values.Get(v) == nullptr) {
      return absl::InternalError(
          absl::StrCat("value '", graph.value_names[v], "' was not computed"));
    }
    outputs.push_back(values.Take(v, /*last=*/true));
  }
  return outputs;
}

absl::StatusOr<std::vector<Tensor>> RunSubgraph(const Graph& graph,
                                                std::span<const Tensor* const> inputs) {
  if (inputs.size() != graph.inputs.size()) {
    return absl::InternalError(
        absl::StrCat("subgraph takes ", graph.inputs.size(), " inputs, got ", inputs.size()));
  }
  Values values(graph);
  for (size_t i = 0; i < inputs.size(); ++i) values.Borrow(graph.inputs[i].value, inputs[i]);
  return RunNodes(graph, values);
}

absl::Status CheckInterrupted(std::string_view where) {
  return Interrupted(current_run, std::string(where));
}

}  // namespace stoa::functions::onnx
