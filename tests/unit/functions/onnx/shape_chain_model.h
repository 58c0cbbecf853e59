// A model whose output shape comes from a Shape → Gather → Unsqueeze →
// Concat chain on its input, for the tests of shape inference, constant
// folding and per-shape plans; and small helpers to run a graph.
#pragma once

#include <utility>
#include <vector>

#include "common/clock.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "tests/fakes/functions/onnx_builders.h"

namespace stoa::functions::testing {

// y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): [N,3,4] → [N,12].
inline ::onnx::ModelProto FlattenByShapeChain(int64_t batch) {
  ::onnx::NodeProto gather = MakeNode("Gather", "gather", {"shape", "zero"}, {"n"});
  ::onnx::NodeProto concat = MakeNode("Concat", "concat", {"n1", "minus_one"}, {"target"});
  SetIntAttr(concat, "axis", 0);
  ::onnx::TensorProto zero = Int64Init("zero", {0});
  zero.clear_dims();  // a scalar index: Gather drops the axis
  return MakeModel({MakeNode("Shape", "shape_of_x", {"x"}, {"shape"}), gather,
                    MakeNode("Unsqueeze", "unsqueeze", {"n", "axes"}, {"n1"}), concat,
                    MakeNode("Reshape", "reshape", {"x", "target"}, {"y"})},
                   {ValueInfo("x", {batch, 3, 4})}, {ValueInfo("y", {batch, 12})},
                   {zero, Int64Init("axes", {0}), Int64Init("minus_one", {-1})});
}

// Runs g on one input, with no deadline.
inline absl::StatusOr<std::vector<onnx::Tensor>> RunOnce(const onnx::Graph& g, onnx::Tensor x) {
  std::vector<onnx::Tensor> in;
  in.push_back(std::move(x));
  return onnx::RunGraph(g, std::move(in), common::RealClock::Get(), 0);
}

// 0, 1, 2, … in the given shape.
inline onnx::Tensor Iota(onnx::Shape shape) {
  onnx::Tensor t = onnx::Tensor::Zeros(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.mutable_floats()[i] = static_cast<float>(i);
  return t;
}

}  // namespace stoa::functions::testing
