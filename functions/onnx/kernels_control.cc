// Control flow: If (opset 1-16) and Loop (opset 1-16) on tensors (sequence
// and optional values are not supported: a body that produces one fails at
// load or with the value's type error). Both run their subgraphs through
// RunSubgraph (interpreter.h), under the invocation's deadline,
// cancellation and memory budget; Loop checks the deadline and cancellation
// before every iteration, so an unbounded trip count stops with the call.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "functions/onnx/graph.h"
#include "functions/onnx/interpreter.h"
#include "functions/onnx/kernel_util.h"
#include "functions/onnx/kernels.h"
#include "functions/onnx/memory_budget.h"

namespace stoa::functions::onnx {
namespace {

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

int FormalInputs(const NodeSubgraph& sub) {
  return static_cast<int>(sub.graph->inputs.size() - sub.captures.size());
}

absl::StatusOr<const NodeSubgraph*> Required(const Node& node, const char* attribute) {
  const NodeSubgraph* sub = node.Subgraph(attribute);
  if (sub == nullptr || sub->graph == nullptr) {
    return Invalid(absl::StrCat("graph attribute '", attribute, "' is missing"));
  }
  return sub;
}

// The formal inputs, then the captured outer-scope values.
std::vector<const Tensor*> SubgraphArgs(const NodeSubgraph& sub, KernelInputs in,
                                        std::vector<const Tensor*> formal) {
  for (int j : sub.captures) formal.push_back(in[j]);
  return formal;
}

absl::StatusOr<bool> ReadCondition(const Tensor* t, const std::string& what) {
  if (t == nullptr || t->type() != ElementType::kBool || t->size() != 1) {
    return Invalid(absl::StrCat(what, " must be a BOOL tensor of one element",
                                t == nullptr ? std::string()
                                             : absl::StrCat(", got ", ElementTypeName(t->type()),
                                                            " ", ShapeString(t->shape()))));
  }
  return t->bools()[0] != 0;
}

absl::Status ValidateIf(const Node& node) {
  ASSIGN_OR_RETURN(const NodeSubgraph* then_branch, Required(node, "then_branch"));
  ASSIGN_OR_RETURN(const NodeSubgraph* else_branch, Required(node, "else_branch"));
  const size_t n_then = then_branch->graph->outputs.size();
  const size_t n_else = else_branch->graph->outputs.size();
  if (n_then != n_else) {
    return Invalid(absl::StrCat("then_branch has ", n_then, " outputs and else_branch ", n_else,
                                "; both must produce the node's ", node.outputs.size()));
  }
  if (node.outputs.size() != n_then) {
    return Invalid(
        absl::StrCat("the node has ", node.outputs.size(), " outputs; its branches ", n_then));
  }
  if (FormalInputs(*then_branch) != 0 || FormalInputs(*else_branch) != 0) {
    return Invalid("If's branches take no inputs");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> RunIf(const Node& node, KernelInputs in) {
  ASSIGN_OR_RETURN(bool cond, ReadCondition(in[0], "the condition (input #0)"));
  const NodeSubgraph& branch = *node.Subgraph(cond ? "then_branch" : "else_branch");
  std::vector<const Tensor*> args = SubgraphArgs(branch, in, {});
  absl::StatusOr<std::vector<Tensor>> out = RunSubgraph(*branch.graph, args);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat(branch.attribute, ": ", std::string(out.status().message())));
  }
  return out;
}

// Loop: inputs M (trip count), cond, v_initial... (N carried values); body
// inputs (iteration_num, cond_in, carried...) and outputs (cond_out,
// carried..., scan outputs... (K)); node outputs: carried..., then the scan
// outputs stacked along a new axis 0.
absl::Status ValidateLoop(const Node& node) {
  ASSIGN_OR_RETURN(const NodeSubgraph* body, Required(node, "body"));
  if (node.declared_inputs < 2) {
    return Invalid("Loop takes at least 2 inputs (trip count and condition, either may be \"\")");
  }
  const int carried = node.declared_inputs - 2;
  if (FormalInputs(*body) != 2 + carried) {
    return Invalid(absl::StrCat("body takes ", FormalInputs(*body), " inputs; with ", carried,
                                " loop-carried values it must take ", 2 + carried,
                                " (iteration number, condition, carried values)"));
  }
  const int outs = static_cast<int>(body->graph->outputs.size());
  if (outs < 1 + carried) {
    return Invalid(absl::StrCat("body has ", outs, " outputs; it must produce the condition and ",
                                carried, " carried values"));
  }
  if (static_cast<int>(node.outputs.size()) > outs - 1) {
    return Invalid(
        absl::StrCat("the node has ", node.outputs.size(), " outputs; its body makes ", outs - 1));
  }
  return absl::OkStatus();
}

// Bytes held across iterations (carried values, scan pieces), charged to the
// thread's memory budget while held.
class HeldBytes {
 public:
  HeldBytes() : budget_(CurrentMemoryBudget()) {}
  ~HeldBytes() { Set(0); }
  HeldBytes(const HeldBytes&) = delete;
  HeldBytes& operator=(const HeldBytes&) = delete;
  absl::Status Update(int64_t bytes, const std::string& what) {
    Set(bytes);
    return budget_ == nullptr ? absl::OkStatus() : budget_->CheckUsed(what);
  }

 private:
  void Set(int64_t bytes) {
    if (budget_ != nullptr) budget_->Charge(bytes - held_);
    held_ = bytes;
  }
  MemoryBudget* budget_;
  int64_t held_ = 0;
};

absl::StatusOr<Tensor> Stack(const std::vector<Tensor>& pieces, const GraphPort& port) {
  if (pieces.empty()) {
    Shape shape{0};
    bool known = port.has_shape;
    for (int64_t d : port.shape) known = known && d >= 0;
    if (known) shape.insert(shape.end(), port.shape.begin(), port.shape.end());
    return Tensor::Empty(port.has_type ? port.type : ElementType::kFloat32, shape);
  }
  Shape shape = pieces[0].shape();
  shape.insert(shape.begin(), static_cast<int64_t>(pieces.size()));
  RETURN_IF_ERROR(CheckAllocation(pieces[0].type(), shape));
  Tensor out = Tensor::Empty(pieces[0].type(), shape);
  const size_t bytes = static_cast<size_t>(pieces[0].size()) * ElementSize(pieces[0].type());
  uint8_t* dst = out.mutable_raw();
  for (const Tensor& p : pieces) {
    if (bytes > 0) std::memcpy(dst, p.raw(), bytes);
    dst += bytes;
  }
  return out;
}

struct LoopState {
  std::vector<Tensor> carried;
  std::vector<std::vector<Tensor>> scans;
  int64_t held_bytes = 0;
};

// Takes one iteration's body outputs into `state`; returns the condition.
absl::StatusOr<bool> TakeIteration(std::vector<Tensor> out, int64_t i, LoopState& state) {
  ASSIGN_OR_RETURN(bool cond, ReadCondition(&out[0], "the body's condition output"));
  const size_t n = state.carried.size();
  for (size_t j = 0; j < n; ++j) {
    state.held_bytes += TensorBytes(out[1 + j]) - TensorBytes(state.carried[j]);
    state.carried[j] = std::move(out[1 + j]);
  }
  for (size_t k = 0; k < state.scans.size(); ++k) {
    Tensor& piece = out[1 + n + k];
    std::vector<Tensor>& scan = state.scans[k];
    if (!scan.empty() && (piece.shape() != scan[0].shape() || piece.type() != scan[0].type())) {
      return Invalid(absl::StrCat("scan output #", k, " is ", ElementTypeName(piece.type()), " ",
                                  ShapeString(piece.shape()), " in iteration ", i, ", ",
                                  ElementTypeName(scan[0].type()), " ",
                                  ShapeString(scan[0].shape()), " before"));
    }
    state.held_bytes += TensorBytes(piece);
    scan.push_back(std::move(piece));
  }
  return cond;
}

absl::StatusOr<std::vector<Tensor>> RunLoop(const Node& node, KernelInputs in) {
  const NodeSubgraph& body = *node.Subgraph("body");
  int64_t trips = INT64_MAX;
  if (HasInput(in, 0)) {
    if (in[0]->type() != ElementType::kInt64 || in[0]->size() != 1) {
      return Invalid("the trip count (input #0) must be an INT64 tensor of one element");
    }
    trips = in[0]->int64s()[0];
  }
  bool cond = true;
  if (HasInput(in, 1)) {
    ASSIGN_OR_RETURN(cond, ReadCondition(in[1], "the condition (input #1)"));
  }
  LoopState state;
  const int n = node.declared_inputs - 2;
  for (int j = 0; j < n; ++j) {
    if (!HasInput(in, 2 + j))
      return Invalid(absl::StrCat("loop-carried input #", 2 + j, " is missing"));
    state.carried.push_back(*in[2 + j]);
    state.held_bytes += TensorBytes(state.carried.back());
  }
  const size_t n_scans = body.graph->outputs.size() - 1 - n;
  state.scans.resize(n_scans);
  HeldBytes held;
  RETURN_IF_ERROR(held.Update(state.held_bytes, "the loop's initial values"));
  for (int64_t i = 0; i < trips && cond; ++i) {
    RETURN_IF_ERROR(CheckInterrupted(absl::StrCat("in loop iteration ", i)));
    const Tensor iteration = Tensor::Int64({}, {i});
    const Tensor cond_in = Tensor::Bool({}, {1});
    std::vector<const Tensor*> formal{&iteration, &cond_in};
    for (const Tensor& t : state.carried) formal.push_back(&t);
    absl::StatusOr<std::vector<Tensor>> out =
        RunSubgraph(*body.graph, SubgraphArgs(body, in, formal));
    if (!out.ok()) {
      return absl::Status(out.status().code(), absl::StrCat("body, iteration ", i, ": ",
                                                            std::string(out.status().message())));
    }
    ASSIGN_OR_RETURN(cond, TakeIteration(*std::move(out), i, state));
    RETURN_IF_ERROR(held.Update(state.held_bytes, absl::StrCat("loop iteration ", i)));
  }
  std::vector<Tensor> outputs = std::move(state.carried);
  for (size_t k = 0; k < n_scans && outputs.size() < node.outputs.size(); ++k) {
    ASSIGN_OR_RETURN(Tensor stacked, Stack(state.scans[k], body.graph->outputs[1 + n + k]));
    outputs.push_back(std::move(stacked));
  }
  return outputs;
}

}  // namespace

void RegisterControlKernels(OpRegistry& registry) {
  constexpr int kMaxValues = 1 << 12;
  registry.Register("If", {.min_inputs = 1,
                           .max_inputs = 1,
                           .max_outputs = kMaxValues,
                           .validate = ValidateIf,
                           .run = RunIf});
  // M and cond are optional but keep their places: Loop lists >= 2 inputs.
  registry.Register("Loop", {.min_inputs = 0,
                             .max_inputs = 2 + kMaxValues,
                             .max_outputs = kMaxValues,
                             .validate = ValidateLoop,
                             .run = RunLoop});
}

}  // namespace stoa::functions::onnx
