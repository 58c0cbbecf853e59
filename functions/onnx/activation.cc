#include "functions/onnx/activation.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "functions/onnx/kernel_util.h"

namespace stoa::functions::onnx {

std::string_view ActivationName(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kNone:
      return "";
    case ActivationKind::kRelu:
      return "Relu";
    case ActivationKind::kClip:
      return "Clip";
    case ActivationKind::kHardSigmoid:
      return "HardSigmoid";
    case ActivationKind::kHardSwish:
      return "HardSwish";
    case ActivationKind::kSigmoid:
      return "Sigmoid";
    case ActivationKind::kLeakyRelu:
      return "LeakyRelu";
  }
  return "";
}

absl::StatusOr<ActivationKind> ActivationFromName(std::string_view name) {
  for (ActivationKind k : {ActivationKind::kNone, ActivationKind::kRelu, ActivationKind::kClip,
                           ActivationKind::kHardSigmoid, ActivationKind::kHardSwish,
                           ActivationKind::kSigmoid, ActivationKind::kLeakyRelu}) {
    if (ActivationName(k) == name) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown fused activation '", std::string(name), "'"));
}

absl::StatusOr<Activation> ActivationOf(const Node& node) {
  Activation a;
  if (!node.attributes.Has("_activation")) return a;
  absl::StatusOr<std::string> name = node.attributes.GetString("_activation", "");
  if (!name.ok()) return name.status();
  absl::StatusOr<ActivationKind> kind = ActivationFromName(*name);
  if (!kind.ok()) return kind.status();
  a.kind = *kind;
  absl::StatusOr<float> alpha = node.attributes.GetFloat("_alpha", 0.0f);
  absl::StatusOr<float> beta = node.attributes.GetFloat("_beta", 0.0f);
  if (!alpha.ok()) return alpha.status();
  if (!beta.ok()) return beta.status();
  a.alpha = *alpha;
  a.beta = *beta;
  absl::StatusOr<float> scale = node.attributes.GetFloat("_post_scale", 1.0f);
  absl::StatusOr<float> shift = node.attributes.GetFloat("_post_shift", 0.0f);
  if (!scale.ok()) return scale.status();
  if (!shift.ok()) return shift.status();
  a.post_scale = *scale;
  a.post_shift = *shift;
  absl::StatusOr<float> lo = node.attributes.GetFloat("_post_min", a.post_min);
  absl::StatusOr<float> hi = node.attributes.GetFloat("_post_max", a.post_max);
  if (!lo.ok()) return lo.status();
  if (!hi.ok()) return hi.status();
  a.post_min = *lo;
  a.post_max = *hi;
  return a;
}

void SetActivation(Node& node, const Activation& a) {
  node.attributes.Set("_activation", std::string(ActivationName(a.kind)));
  node.attributes.Set("_alpha", a.alpha);
  node.attributes.Set("_beta", a.beta);
  node.attributes.Set("_post_scale", a.post_scale);
  node.attributes.Set("_post_shift", a.post_shift);
  node.attributes.Set("_post_min", a.post_min);
  node.attributes.Set("_post_max", a.post_max);
}

namespace {

void ApplyActivation(const Activation& act, ArrayMap& x);

absl::StatusOr<std::vector<Tensor>> RunFusedActivation(const Node& node, KernelInputs in) {
  if (absl::Status s = ExpectFloat(node, in, 0); !s.ok()) return s;
  absl::StatusOr<Activation> act = ActivationOf(node);
  if (!act.ok()) return act.status();
  Tensor y = Tensor::Uninitialized(in[0]->shape());
  std::copy(in[0]->floats().begin(), in[0]->floats().end(), y.mutable_floats().begin());
  ApplyBiasActivation(*act, false, 0.0f, y.mutable_floats().data(), y.size());
  return One(std::move(y));
}

}  // namespace

OpKernel FusedActivationKernel() {
  return {.min_inputs = 1,
          .max_inputs = 1,
          .max_outputs = 1,
          .validate = nullptr,
          .run = RunFusedActivation};
}

void ApplyBiasActivation(const Activation& act, bool has_bias, float bias, float* data, int64_t n) {
  ArrayMap x(data, n);
  if (has_bias) x += bias;
  ApplyActivation(act, x);
  if (act.post_scale != 1.0f || act.post_shift != 0.0f) x = x * act.post_scale + act.post_shift;
  if (act.post_min > -std::numeric_limits<float>::infinity()) x = x.max(act.post_min);
  if (act.post_max < std::numeric_limits<float>::infinity()) x = x.min(act.post_max);
}

namespace {

void ApplyActivation(const Activation& act, ArrayMap& x) {
  const float a = act.alpha, b = act.beta;
  switch (act.kind) {
    case ActivationKind::kNone:
      return;
    case ActivationKind::kRelu:
      x = x.max(0.0f);
      return;
    case ActivationKind::kClip:
      x = x.max(a).min(b);
      return;
    case ActivationKind::kHardSigmoid:
      x = (a * x + b).max(0.0f).min(1.0f);
      return;
    case ActivationKind::kHardSwish:
      x = x * (a * x + b).max(0.0f).min(1.0f);
      return;
    case ActivationKind::kSigmoid:
      x = 1.0f / (1.0f + (-x).exp());
      return;
    case ActivationKind::kLeakyRelu:
      // max(x, 0) + a * min(x, 0) is x or a * x exactly, and vectorises
      // (Eigen 3.4's select does not).
      x = x.max(0.0f) + a * x.min(0.0f);
      return;
  }
}

}  // namespace

}  // namespace stoa::functions::onnx
