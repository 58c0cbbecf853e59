// Execution plans cached per input shape. A model with symbolic input
// dimensions (batch, height, width, sequence) can only fold the shape
// subgraphs that do not depend on them at load. When such a model still
// has Shape nodes after load, PlanCache builds, on the first request of
// each distinct input-shape tuple, a graph specialised to those concrete
// dims (shape inference and constant folding rerun with them, so
// Shape→Gather→Concat→Reshape chains become constants) and keeps it for
// later requests of the same shapes. The cache is bounded: beyond
// `capacity` plans the least recently used one is dropped.
//
// Thread safety: ForShapes may be called from any thread; a plan is an
// immutable Graph shared with the invocations running it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/op_registry.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions::onnx {

class PlanCache {
 public:
  // `model` is the model `base` was built from (BuildGraph(model, registry)).
  // Specialised graphs are built within `limits`, like the base.
  PlanCache(::onnx::ModelProto model, std::shared_ptr<const Graph> base, OpRegistry registry,
            size_t capacity = 8, ModelLimits limits = {});

  // True when specialising can help: some input dim is symbolic and some
  // Shape node was not folded at load.
  static bool Worthwhile(const Graph& base);

  // The plan for inputs of these shapes (in graph-input order): the base
  // graph when specialisation is not worthwhile or fails, else the cached
  // or newly built specialised graph.
  std::shared_ptr<const Graph> ForShapes(const std::vector<Shape>& shapes);

  size_t size() const;
  int64_t builds() const;  // specialised graphs built so far

 private:
  const ::onnx::ModelProto model_;
  const std::shared_ptr<const Graph> base_;
  const OpRegistry registry_;
  const size_t capacity_;
  const ModelLimits limits_;
  const bool worthwhile_;
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::vector<Shape>, std::shared_ptr<const Graph>>> plans_
      ABSL_GUARDED_BY(mu_);
  int64_t builds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stoa::functions::onnx
