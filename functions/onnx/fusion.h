// Load-time rewrites of a CPU graph (after BuildGraph's constant folding),
// so that a run touches each tensor fewer times:
//  - Conv followed by BatchNormalization (constant parameters): the
//    normalisation is folded into the Conv's weights and bias;
//  - Conv followed by Mul/Add by a scalar or per-map constant: folded into
//    the weights and bias;
//  - Conv followed by an activation (Relu, Clip with constant bounds,
//    HardSigmoid, Sigmoid, LeakyRelu): the activation runs in the Conv's
//    epilogue (activation.h);
//  - HardSwish spelled as primitives, x * Clip(x + a, 0, d) / d (PaddleOCR,
//    MobileNetV3 exports): after a Conv the Conv's epilogue computes it;
//    elsewhere the four nodes become one "HardSwish" node (one pass, one
//    output tensor instead of four);
//  - scalar Mul/Add right after a fused activation (PP-LCNetV3's learnable
//    affine blocks): applied in the same epilogue.
// A rewrite applies only when the intermediate value has no other reader
// and is not a graph output, so results are those of the original graph up
// to float rounding. Fused nodes keep the first node's name and index (so
// messages still name a model node) and get op_type "Conv" with the
// activation attributes, which only the CPU kernels read: call this on the
// CPU engine's graphs, never on one another backend (CUDA) will run.
//
// Thread safety: works on a Graph being built, before it is shared.
#pragma once

#include "absl/status/status.h"
#include "functions/onnx/graph.h"

namespace stoa::functions::onnx {

struct FusionStats {
  int batch_norms_folded = 0;
  int activations_fused = 0;
  int hard_swishes_fused = 0;
  int affines_folded = 0;  // Mul/Add by constants folded into weights or epilogues
};

// Rewrites `graph` in place and recomputes graph.last_use. Never makes the
// graph's memory plan larger (it only removes intermediates; folded
// weights replace the ones they came from when nothing else reads those).
FusionStats OptimizeForCpu(Graph& graph);

}  // namespace stoa::functions::onnx
