// Activations a producer (Conv, Gemm, MatMul, BatchNormalization) applies in
// its epilogue after the load-time fusion pass (fusion.h) has folded the
// activation node into it: the output is written once instead of twice.
//
// A fused node carries the activation as attributes that no ONNX model
// uses: "_activation" (a name below), "_alpha"/"_beta" (its parameters)
// and "_post_scale"/"_post_shift"/"_post_min"/"_post_max". ActivationOf reads them; a node without
// them has kNone.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include "absl/status/statusor.h"
#include "functions/onnx/node.h"

namespace stoa::functions::onnx {

enum class ActivationKind {
  kNone,
  kRelu,         // max(x, 0)
  kClip,         // min(max(x, alpha), beta)  (Relu6 is Clip 0..6)
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, alpha * x + beta))  (alpha 1/6, beta 0.5)
  kSigmoid,      // 1 / (1 + exp(-x))
  kLeakyRelu,    // x < 0 ? alpha * x : x
};

// min(max(act(x) * post_scale + post_shift, post_min), post_max): the
// scalar affine that often follows an activation (PP-LCNetV3's learnable
// affine blocks) and a clamp by constants (openWakeWord's Max(LeakyRelu(x),
// -0.4)) ride along.
struct Activation {
  ActivationKind kind = ActivationKind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;
  float post_scale = 1.0f;
  float post_shift = 0.0f;
  float post_min = -std::numeric_limits<float>::infinity();
  float post_max = std::numeric_limits<float>::infinity();
};

// The attribute value naming `kind` ("Relu", "Clip", ...), and back.
std::string_view ActivationName(ActivationKind kind);
absl::StatusOr<ActivationKind> ActivationFromName(std::string_view name);

// The activation fused into `node` (kNone when none). INVALID_ARGUMENT for
// an unknown "_activation" value.
absl::StatusOr<Activation> ActivationOf(const Node& node);

// Records `a` on `node` (the fusion pass).
void SetActivation(Node& node, const Activation& a);

// The kernel of a standalone fused activation node (the fusion pass makes
// one, op_type "HardSwish", from a chain of primitives whose input no Conv
// produces): y = act(x) for FP32 x, the activation read by ActivationOf.
OpKernel FusedActivationKernel();

// data[i] = act(data[i] + bias) for i < n (bias 0 when has_bias is false).
void ApplyBiasActivation(const Activation& act, bool has_bias, float bias, float* data, int64_t n);

}  // namespace stoa::functions::onnx
