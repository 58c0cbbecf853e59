#include "functions/onnx/split_invoke.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/wire_tensor.h"

namespace stoa::functions::onnx {
namespace {

absl::StatusOr<CutPoint> CutFor(const std::vector<CutPoint>& cuts, const v1::FunctionSpec& spec,
                                const std::string& name) {
  if (!spec.split()) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", spec.name(), "' was not registered with \"split\": true"));
  }
  if (std::optional<CutPoint> cut = FindCut(cuts, name); cut.has_value()) return *cut;
  std::vector<std::string> names;
  for (const CutPoint& c : cuts) names.push_back(c.tensor);
  return absl::InvalidArgumentError(absl::StrCat("function '", spec.name(), "' has no cut point '",
                                                 name,
                                                 "'; its cuts are: ", absl::StrJoin(names, ", ")));
}

// The cut tensor as the suffix's one declared input.
Signature CutSignature(const CutPoint& cut) {
  Signature sig;
  v1::TensorSignature* s = sig.Add();
  s->set_name(cut.tensor);
  s->set_datatype(WireType(cut.type));
  for (int64_t d : cut.shape) s->add_shape(d);
  return sig;
}

}  // namespace

v1::SplitCut ToWire(const CutPoint& cut) {
  v1::SplitCut wire;
  wire.set_tensor(cut.tensor);
  wire.set_after_node(cut.after_node);
  wire.set_datatype(WireType(cut.type));
  for (int64_t d : cut.shape) wire.add_shape(d);
  wire.set_bytes(cut.bytes);
  wire.set_prefix_cost(cut.prefix_cost);
  return wire;
}

absl::StatusOr<InvocationOutput> RunSplitPart(const Graph& graph, const std::vector<CutPoint>& cuts,
                                              const v1::FunctionSpec& spec,
                                              const InvocationInput& input,
                                              const common::Clock& clock, int64_t deadline_us) {
  absl::StatusOr<CutPoint> cut = CutFor(cuts, spec, input.split_cut);
  if (!cut.ok()) return cut.status();
  const bool prefix = input.part == GraphPart::kPrefix;
  const Signature declared = prefix ? spec.inputs() : CutSignature(*cut);
  absl::StatusOr<std::vector<Tensor>> tensors = RequestTensors(declared, input.tensors);
  if (!tensors.ok()) return tensors.status();
  const GraphRange range = prefix ? PrefixRange(graph, *cut) : SuffixRange(graph, *cut);
  absl::StatusOr<std::vector<Tensor>> outputs =
      RunGraphPart(graph, range, *std::move(tensors), clock, deadline_us, input.cancel);
  if (!outputs.ok()) return outputs.status();
  InvocationOutput out;
  if (prefix) {
    Signature named;
    v1::TensorSignature* s = named.Add();
    s->set_name(cut->tensor);
    out.tensors = ResponseTensors(named, *outputs);
  } else {
    out.tensors = ResponseTensors(spec.outputs(), *outputs);
  }
  return out;
}

}  // namespace stoa::functions::onnx
