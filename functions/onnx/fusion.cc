#include "functions/onnx/fusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "functions/onnx/activation.h"

namespace stoa::functions::onnx {
namespace {

// Who reads each value: node positions, and whether a graph output is it.
struct Readers {
  std::vector<std::vector<int>> nodes;
  std::vector<bool> is_output;
};

Readers FindReaders(const Graph& graph) {
  Readers r;
  r.nodes.resize(graph.value_names.size());
  r.is_output.assign(graph.value_names.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int v : graph.nodes[i].inputs) {
      if (v >= 0) r.nodes[v].push_back(static_cast<int>(i));
    }
  }
  for (const GraphPort& p : graph.outputs) r.is_output[p.value] = true;
  return r;
}

// The one node reading `v`, or -1 (none, several, or a graph output).
int SoleReader(const Readers& r, int v) {
  if (v < 0 || r.is_output[v] || r.nodes[v].size() != 1) return -1;
  return r.nodes[v][0];
}

const Tensor* ConstantInput(const Graph& graph, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i] < 0) return nullptr;
  const std::optional<Tensor>& c = graph.constants[node.inputs[i]];
  return c.has_value() && c->type() == ElementType::kFloat32 ? &*c : nullptr;
}

std::optional<float> ScalarInput(const Graph& graph, const Node& node, size_t i) {
  const Tensor* t = ConstantInput(graph, node, i);
  if (t == nullptr || t->size() != 1) return std::nullopt;
  return t->floats()[0];
}

bool PlainConv(const Graph& graph, const Node& n) {
  if (n.op_type != "Conv" || n.attributes.Has("_activation")) return false;
  return ConstantInput(graph, n, 1) != nullptr &&
         (n.inputs.size() < 3 || n.inputs[2] < 0 || ConstantInput(graph, n, 2) != nullptr);
}

// A new constant value (for weights that others still read in their old form).
int AddConstant(Graph& graph, const std::string& name, Tensor t) {
  graph.value_names.push_back(name);
  graph.constants.emplace_back(std::move(t));
  graph.value_shapes.emplace_back();
  return static_cast<int>(graph.value_names.size() - 1);
}

// Replaces input `i` of conv by `t`, in place when the conv is its only reader.
void SetConvConstant(Graph& graph, const Readers& r, Node& conv, size_t i, Tensor t,
                     const char* suffix) {
  const int old = i < conv.inputs.size() ? conv.inputs[i] : -1;
  if (old >= 0 && r.nodes[old].size() == 1 && !r.is_output[old]) {
    graph.constants[old] = std::move(t);
    return;
  }
  const int id = AddConstant(graph, conv.name + suffix, std::move(t));
  if (conv.inputs.size() <= i) {
    conv.inputs.resize(i + 1, -1);
    conv.input_names.resize(i + 1);
  }
  conv.inputs[i] = id;
  conv.input_names[i] = graph.value_names[id];
}

// Conv -> BatchNormalization: w'[m] = w[m] * s[m], b'[m] = (b[m] - mean[m]) * s[m] + beta[m].
bool FoldBatchNorm(Graph& graph, const Readers& r, Node& conv, const Node& bn) {
  if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1 || bn.inputs.size() != 5) {
    return false;
  }
  const Tensor* w = ConstantInput(graph, conv, 1);
  const Tensor* b = conv.inputs.size() > 2 ? ConstantInput(graph, conv, 2) : nullptr;
  const Tensor* p[4];
  for (int i = 0; i < 4; ++i) p[i] = ConstantInput(graph, bn, i + 1);
  if (w == nullptr || w->rank() < 3 || p[0] == nullptr || p[1] == nullptr || p[2] == nullptr ||
      p[3] == nullptr) {
    return false;
  }
  const int64_t maps = w->shape()[0];
  if (maps <= 0) return false;  // an empty Conv: nothing to fold, and no division by zero
  for (const Tensor* t : p) {
    if (t->size() != maps) return false;
  }
  if (b != nullptr && b->size() != maps) return false;
  absl::StatusOr<float> eps = bn.attributes.GetFloat("epsilon", 1e-5f);
  absl::StatusOr<int64_t> training = bn.attributes.GetInt("training_mode", 0);
  if (!eps.ok() || !training.ok() || *training != 0) return false;
  std::vector<float> wv(w->floats().begin(), w->floats().end());
  std::vector<float> bv(static_cast<size_t>(maps));
  const int64_t per_map = w->size() / maps;
  for (int64_t m = 0; m < maps; ++m) {
    const float s = p[0]->floats()[m] / std::sqrt(p[3]->floats()[m] + *eps);
    for (int64_t k = 0; k < per_map; ++k) wv[m * per_map + k] *= s;
    const float b0 = b != nullptr ? b->floats()[m] : 0.0f;
    bv[m] = (b0 - p[2]->floats()[m]) * s + p[1]->floats()[m];
  }
  SetConvConstant(graph, r, conv, 1, Tensor::Float(w->shape(), std::move(wv)), "/bn_folded_w");
  SetConvConstant(graph, r, conv, 2, Tensor::Float({maps}, std::move(bv)), "/bn_folded_b");
  return true;
}

// The constant other operand of a Mul or Add whose other input is `v`: a
// scalar, or (rank > 0) one value per map of axis 1 of an output of that
// rank ([maps], [maps,1,1], [1,maps,1,1] against an NCHW output).
const Tensor* AffineOperand(const Graph& graph, const Node& n, int v, int64_t maps, int64_t rank) {
  if ((n.op_type != "Mul" && n.op_type != "Add") || n.inputs.size() != 2) return nullptr;
  const size_t other = n.inputs[0] == v ? 1 : 0;
  if (n.inputs[1 - other] != v) return nullptr;
  const Tensor* c = ConstantInput(graph, n, other);
  if (c == nullptr || c->size() == 1) return c;
  if (rank <= 0 || c->size() != maps || c->rank() > rank) return nullptr;
  const int64_t j = c->rank() - rank + 1;  // c's axis under the output's axis 1
  return j >= 0 && c->shape()[j] == maps ? c : nullptr;
}

// Conv -> Mul/Add by constants: scale the weights and bias / add to the bias.
bool FoldAffine(Graph& graph, const Readers& r, Node& conv, const Node& n) {
  const Tensor* w = ConstantInput(graph, conv, 1);
  if (w == nullptr || w->rank() < 3) return false;
  const int64_t maps = w->shape()[0];
  if (maps <= 0) return false;
  const Tensor* c = AffineOperand(graph, n, conv.outputs[0], maps, w->rank());
  if (c == nullptr) return false;
  const Tensor* b = conv.inputs.size() > 2 ? ConstantInput(graph, conv, 2) : nullptr;
  std::vector<float> bv(static_cast<size_t>(maps), 0.0f);
  if (b != nullptr) std::copy(b->floats().begin(), b->floats().end(), bv.begin());
  auto at = [&](int64_t m) { return c->floats()[c->size() == 1 ? 0 : m]; };
  if (n.op_type == "Add") {
    for (int64_t m = 0; m < maps; ++m) bv[m] += at(m);
  } else {
    std::vector<float> wv(w->floats().begin(), w->floats().end());
    const int64_t per_map = w->size() / maps;
    for (int64_t m = 0; m < maps; ++m) {
      for (int64_t k = 0; k < per_map; ++k) wv[m * per_map + k] *= at(m);
      bv[m] *= at(m);
    }
    SetConvConstant(graph, r, conv, 1, Tensor::Float(w->shape(), std::move(wv)), "/scaled_w");
  }
  SetConvConstant(graph, r, conv, 2, Tensor::Float({maps}, std::move(bv)), "/affine_b");
  return true;
}

// The FP32 scalar constant a two-input Max or Min of `v` compares with, when
// it cannot change the output's shape (rank at most the Conv's).
const Tensor* ClampOperand(const Graph& graph, const Node& producer, const Node& n, int v) {
  if ((n.op_type != "Max" && n.op_type != "Min") || n.inputs.size() != 2) return nullptr;
  const size_t other = n.inputs[0] == v ? 1 : 0;
  if (n.inputs[1 - other] != v) return nullptr;
  const Tensor* c = ConstantInput(graph, n, other);
  const Tensor* w = ConstantInput(graph, producer, 1);
  if (c == nullptr || w == nullptr || c->size() != 1 || c->type() != ElementType::kFloat32 ||
      c->rank() > w->rank()) {
    return nullptr;
  }
  return c;
}

// After an activation fused into `producer`: scalar Mul/Add nodes that
// follow become its post_scale / post_shift, and Max/Min by a scalar its
// post_min / post_max (a clamp applies after any affine, so an affine
// after a clamp ends the chain).
int AbsorbPostAffine(Graph& graph, Node& producer, Activation& act, std::vector<bool>& dropped) {
  int absorbed = 0;
  bool clamped = false;
  for (;;) {
    const Readers r = FindReaders(graph);
    const int next = SoleReader(r, producer.outputs[0]);
    if (next < 0) break;
    Node& n = graph.nodes[next];
    if (const Tensor* m = ClampOperand(graph, producer, n, producer.outputs[0])) {
      const float v = m->floats()[0];
      if (n.op_type == "Max") {
        act.post_min = std::max(act.post_min, v);
        act.post_max = std::max(act.post_max, v);
      } else {
        act.post_max = std::min(act.post_max, v);
        act.post_min = std::min(act.post_min, v);
      }
      clamped = true;
    } else {
      const Tensor* c = AffineOperand(graph, n, producer.outputs[0], -1, 0);
      if (clamped || c == nullptr || c->size() != 1) break;
      const float v = c->floats()[0];
      if (n.op_type == "Mul") {
        act.post_scale *= v;
        act.post_shift *= v;
      } else {
        act.post_shift += v;
      }
    }
    producer.outputs = n.outputs;
    dropped[next] = true;
    n.inputs.clear();
    ++absorbed;
  }
  SetActivation(producer, act);
  return absorbed;
}

// The activation `n` computes on its first input, if it is one the Conv
// epilogue can run.
std::optional<Activation> AsActivation(const Graph& graph, const Node& n) {
  Activation a;
  if (n.outputs.size() != 1) return std::nullopt;
  if (n.op_type == "Relu") {
    a.kind = ActivationKind::kRelu;
  } else if (n.op_type == "Sigmoid") {
    a.kind = ActivationKind::kSigmoid;
  } else if (n.op_type == "HardSigmoid" || n.op_type == "LeakyRelu") {
    const bool hard = n.op_type == "HardSigmoid";
    absl::StatusOr<float> alpha = n.attributes.GetFloat("alpha", hard ? 0.2f : 0.01f);
    absl::StatusOr<float> beta = n.attributes.GetFloat("beta", 0.5f);
    if (!alpha.ok() || !beta.ok()) return std::nullopt;
    a = {hard ? ActivationKind::kHardSigmoid : ActivationKind::kLeakyRelu, *alpha, *beta};
  } else if (n.op_type == "Clip") {
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
    if (n.opset < 11) {
      absl::StatusOr<float> l = n.attributes.GetFloat("min", lo);
      absl::StatusOr<float> h = n.attributes.GetFloat("max", hi);
      if (!l.ok() || !h.ok()) return std::nullopt;
      lo = *l;
      hi = *h;
    } else {
      for (size_t i = 1; i < 3 && i < n.inputs.size(); ++i) {
        if (n.inputs[i] < 0) continue;
        std::optional<float> v = ScalarInput(graph, n, i);
        if (!v.has_value()) return std::nullopt;
        (i == 1 ? lo : hi) = *v;
      }
    }
    a = {ActivationKind::kClip, lo, hi};
  } else {
    return std::nullopt;
  }
  return a;
}

// x -> Add(x, a) -> Clip(0, d) -> Div(d) -> Mul(x, .): the HardSwish of x
// with alpha 1/d, beta a/d. Returns the Mul's position and the nodes to drop.
std::optional<int> MatchHardSwish(const Graph& graph, const Readers& r, int x,
                                  std::vector<int>& chain, Activation& act) {
  if (x < 0 || r.is_output[x] || r.nodes[x].size() != 2) return std::nullopt;
  for (int first : r.nodes[x]) {
    const Node& add = graph.nodes[first];
    if (add.op_type != "Add" || add.inputs.size() != 2) continue;
    const std::optional<float> a = ScalarInput(graph, add, add.inputs[0] == x ? 1 : 0);
    const int clip_at = SoleReader(r, add.outputs[0]);
    if (!a.has_value() || clip_at < 0) continue;
    const std::optional<Activation> clip = AsActivation(graph, graph.nodes[clip_at]);
    if (!clip.has_value() || clip->kind != ActivationKind::kClip || clip->alpha != 0.0f) continue;
    // Then Div(d) and Mul(x, .), or Mul(x, .) and Div(d).
    const int second = SoleReader(r, graph.nodes[clip_at].outputs[0]);
    if (second < 0) continue;
    const bool div_first = graph.nodes[second].op_type == "Div";
    const int third = SoleReader(r, graph.nodes[second].outputs[0]);
    if (third < 0) continue;
    const Node& div = graph.nodes[div_first ? second : third];
    const Node& mul = graph.nodes[div_first ? third : second];
    const std::optional<float> d = ScalarInput(graph, div, 1);
    if (div.op_type != "Div" || div.inputs.size() != 2 || !d.has_value() || *d != clip->beta ||
        *d <= 0.0f || mul.op_type != "Mul" || mul.inputs.size() != 2) {
      continue;
    }
    const int mul_from = div_first ? div.outputs[0] : graph.nodes[clip_at].outputs[0];
    const int other = mul.inputs[0] == mul_from ? mul.inputs[1] : mul.inputs[0];
    if (other != x || (div_first ? div.inputs[0] : mul.outputs[0]) !=
                          (div_first ? graph.nodes[clip_at].outputs[0] : div.inputs[0])) {
      continue;
    }
    chain = {first, clip_at, second, third};
    act = {ActivationKind::kHardSwish, 1.0f / *d, *a / *d};
    return third;
  }
  return std::nullopt;
}

void RecomputeLastUse(Graph& graph) {
  graph.last_use.assign(graph.value_names.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int v : graph.nodes[i].inputs) {
      if (v >= 0) graph.last_use[v] = static_cast<int>(i);
    }
  }
  for (const GraphPort& port : graph.outputs) {
    graph.last_use[port.value] = static_cast<int>(graph.nodes.size());
  }
}

// HardSwish chains on values no Conv produced: the chain's Add becomes one
// fused activation node (its input is ready there; its readers come after
// the chain's Mul, so the order stays topological).
void FuseStandaloneHardSwish(Graph& graph, std::vector<bool>& dropped, FusionStats& stats) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& add = graph.nodes[i];
    if (dropped[i] || add.op_type != "Add" || add.inputs.size() != 2) continue;
    const Readers r = FindReaders(graph);
    for (int x : add.inputs) {
      std::vector<int> chain;
      Activation act;
      std::optional<int> mul = MatchHardSwish(graph, r, x, chain, act);
      if (!mul.has_value() || chain[0] != static_cast<int>(i)) continue;
      Node fused;
      fused.name = add.name;
      fused.op_type = "HardSwish";
      fused.index = add.index;
      fused.opset = add.opset;
      fused.kernel = FusedActivationKernel();
      fused.inputs = {x};
      fused.input_names = {graph.value_names[x]};
      fused.outputs = graph.nodes[*mul].outputs;
      SetActivation(fused, act);
      for (int k : chain) {
        dropped[k] = true;
        graph.nodes[k].inputs.clear();
      }
      graph.nodes[i] = std::move(fused);
      dropped[i] = false;
      ++stats.hard_swishes_fused;
      stats.affines_folded += AbsorbPostAffine(graph, graph.nodes[i], act, dropped);
      break;
    }
  }
}

// Everything that can fold into the Conv at position i, in order: a
// BatchNormalization, constant Mul/Add, an activation (or HardSwish
// chain), then scalar Mul/Add after the activation.
void FuseAfterConv(Graph& graph, size_t i, std::vector<bool>& dropped, FusionStats& stats) {
  Node& conv = graph.nodes[i];
  auto take = [&](int next) {
    conv.outputs = graph.nodes[next].outputs;
    dropped[next] = true;
    graph.nodes[next].inputs.clear();
  };
  Readers r = FindReaders(graph);
  int next = SoleReader(r, conv.outputs[0]);
  if (next >= 0 && FoldBatchNorm(graph, r, conv, graph.nodes[next])) {
    take(next);
    ++stats.batch_norms_folded;
    r = FindReaders(graph);
    next = SoleReader(r, conv.outputs[0]);
  }
  while (next >= 0 && FoldAffine(graph, r, conv, graph.nodes[next])) {
    take(next);
    ++stats.affines_folded;
    r = FindReaders(graph);
    next = SoleReader(r, conv.outputs[0]);
  }
  std::vector<int> chain;
  Activation act;
  if (std::optional<int> last = MatchHardSwish(graph, r, conv.outputs[0], chain, act)) {
    conv.outputs = graph.nodes[*last].outputs;
    for (int k : chain) {
      dropped[k] = true;
      graph.nodes[k].inputs.clear();
    }
    ++stats.hard_swishes_fused;
  } else if (next >= 0 && !graph.nodes[next].inputs.empty() &&
             graph.nodes[next].inputs[0] == conv.outputs[0]) {
    std::optional<Activation> a = AsActivation(graph, graph.nodes[next]);
    if (!a.has_value()) return;
    act = *a;
    take(next);
    ++stats.activations_fused;
  } else {
    return;
  }
  stats.affines_folded += AbsorbPostAffine(graph, conv, act, dropped);
}

}  // namespace

FusionStats OptimizeForCpu(Graph& graph) {
  FusionStats stats;
  std::vector<bool> dropped(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!dropped[i] && PlainConv(graph, graph.nodes[i])) FuseAfterConv(graph, i, dropped, stats);
  }
  FuseStandaloneHardSwish(graph, dropped, stats);
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!dropped[i]) kept.push_back(std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(kept);
  RecomputeLastUse(graph);
  return stats;
}

}  // namespace stoa::functions::onnx
