#include "functions/onnx/plan_cache.h"

#include <exception>

#include "functions/onnx/fusion.h"

namespace stoa::functions::onnx {

PlanCache::PlanCache(::onnx::ModelProto model, std::shared_ptr<const Graph> base,
                     OpRegistry registry, size_t capacity, ModelLimits limits)
    : model_(std::move(model)),
      base_(std::move(base)),
      registry_(std::move(registry)),
      capacity_(capacity),
      limits_(std::move(limits)),
      worthwhile_(Worthwhile(*base_)) {}

bool PlanCache::Worthwhile(const Graph& base) {
  bool dynamic = false;
  for (const GraphPort& port : base.inputs) {
    for (int64_t d : port.shape) dynamic = dynamic || d < 0;
  }
  if (!dynamic) return false;
  for (const Node& node : base.nodes) {
    if (node.op_type == "Shape") return true;
  }
  return false;
}

std::shared_ptr<const Graph> PlanCache::ForShapes(const std::vector<Shape>& shapes) {
  if (!worthwhile_ || shapes.size() != base_->inputs.size()) return base_;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first == shapes) {
        plans_.splice(plans_.begin(), plans_, it);
        return it->second;
      }
    }
  }
  // Build outside the lock: the model with the inputs' dims made concrete.
  ::onnx::ModelProto specialised = model_;
  auto* graph_inputs = specialised.mutable_graph()->mutable_input();
  for (size_t i = 0; i < shapes.size(); ++i) {
    for (auto& info : *graph_inputs) {
      if (info.name() != base_->inputs[i].name) continue;
      auto* dims = info.mutable_type()->mutable_tensor_type()->mutable_shape();
      dims->clear_dim();
      for (int64_t d : shapes[i]) dims->add_dim()->set_dim_value(d);
    }
  }
  std::shared_ptr<const Graph> plan = base_;
  try {
    absl::StatusOr<Graph> g = BuildGraph(specialised, registry_, limits_);
    if (g.ok()) {
      OptimizeForCpu(*g);
      plan = std::make_shared<const Graph>(*std::move(g));
    }
  } catch (const std::exception&) {
    // Fall back to the base graph, which handles any shape.
  }
  absl::MutexLock lock(&mu_);
  ++builds_;
  plans_.emplace_front(shapes, plan);
  while (plans_.size() > capacity_) plans_.pop_back();
  return plan;
}

size_t PlanCache::size() const {
  absl::MutexLock lock(&mu_);
  return plans_.size();
}

int64_t PlanCache::builds() const {
  absl::MutexLock lock(&mu_);
  return builds_;
}

}  // namespace stoa::functions::onnx
