// The `onnx` FunctionRuntime: loads an ONNX model (parsed with libonnx's
// protobuf schema) into an onnx::Graph and runs it with the CPU kernels of
// an OpRegistry (Eigen). Only FP32 graph inputs and outputs.
//
// Load errors (INVALID_ARGUMENT):
//  - "artifact is not a valid ONNX model: …" for empty, corrupt or truncated
//    bytes, or a model that onnx::checker rejects;
//  - "node 'conv1' (#0) uses unsupported op 'Conv'" for an op without kernel;
//  - messages naming the node/value for cycles, missing values, bad attributes;
//  - "input 'x' has data type INT64; only FP32 …" for non-FP32 inputs/outputs.
// Load returns the spec with runtime "onnx" and inputs/outputs filled in
// (dynamic dimensions -1; an output without a declared shape has none).
//
// Limits (OnnxRuntimeOptions, docs/limits.md): a model over max_nodes,
// max_initializer_mb, an unsupported default-domain opset, or whose
// constant folding or planned peak passes its memory budget is refused at
// load with INVALID_ARGUMENT naming the limit; so is, per call, a tensor
// that would take the call past the budget.
//
// Invoke errors: INVALID_ARGUMENT naming the input and expected vs actual
// ("input 'pixels': expected shape [-1,64], got [1,63]") for a missing,
// extra, duplicate, non-FP32, wrongly shaped or wrongly sized input (a
// single unnamed tensor is accepted for a single-input model; see
// functions/signature.h and wire_tensor.h); DEADLINE_EXCEEDED when
// InvocationInput::budget_us, counted on Options::clock from the start of
// Invoke, runs out (checked between nodes); INVALID_ARGUMENT from a kernel
// for dynamic shapes the graph cannot compute with, naming the node.
//
// Intra-op threads: Options::intra_op_threads (default 1); with more, one
// pool of intra_op_threads - 1 workers is shared by the runtime's functions.
//
// Thread safety: Load and Invoke may run concurrently; a loaded function
// holds only immutable state and each Invoke uses its own buffers. Loaded
// functions do not refer to the runtime (only to its clock), so they may
// outlive it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "functions/function_runtime.h"
#include "functions/onnx/model_limits.h"
#include "functions/onnx/op_registry.h"
#include "functions/onnx/parallel.h"
#include "functions/onnx/tensor.h"
#include "onnx/onnx_pb.h"

namespace stoa::functions {

struct OnnxRuntimeOptions {
  // Threads one invocation may use inside a kernel (Conv, Gemm, MatMul,
  // pooling), the calling thread included. 1 (the default) keeps every
  // invocation on its calling thread, so the executor controls
  // parallelism by how many invocations it runs at once. Values < 1 mean 1.
  int intra_op_threads = 1;
  // Model limits (docs/limits.md): nodes of the main graph, decoded
  // initializer bytes, and the memory budget of a function whose spec sets
  // no limits.memory_mb (a spec may ask for less, not more). The budget
  // covers constants plus the tensors one call holds: a model whose planned
  // peak passes it is refused at load, a call whose tensors would pass it
  // fails before allocating (INVALID_ARGUMENT naming the limit).
  int64_t max_nodes = 100'000;
  int64_t max_initializer_mb = 2048;
  int64_t max_memory_mb = 1024;
  // What invocation budgets are measured on; must outlive the runtime and
  // every function it loaded.
  const common::Clock* clock = &common::RealClock::Get();
};

// The ONNX options RuntimeOptions asks for (threads, clock); defined with
// DefaultRuntimes.
OnnxRuntimeOptions OnnxOptionsFrom(const RuntimeOptions& options);

// The limits a function of this spec is loaded and run within: the
// options', with the memory budget of the spec's limits.memory_mb when it
// sets one no larger than options.max_memory_mb.
onnx::ModelLimits OnnxLimitsFor(const v1::FunctionSpec& spec, const OnnxRuntimeOptions& options);

class OnnxRuntime final : public FunctionRuntime {
 public:
  using Options = OnnxRuntimeOptions;

  // With every CPU kernel (onnx::DefaultOpRegistry()).
  OnnxRuntime();
  explicit OnnxRuntime(Options options);
  explicit OnnxRuntime(onnx::OpRegistry registry, Options options = {});

  std::string_view name() const override { return "onnx"; }
  absl::StatusOr<LoadedFunctionPtr> Load(const v1::FunctionSpec& spec,
                                         std::string_view artifact) override;
  // Reads the model with onnx::ReadModelFile: the large initializers go
  // from the file straight into their tensors, never through a proto copy.
  // Such a model gets no PlanCache (re-planning per input shape would need
  // the full proto): its base graph serves every shape.
  absl::StatusOr<LoadedFunctionPtr> LoadFile(const v1::FunctionSpec& spec,
                                             const std::string& path) override;

 private:
  // The common part of Load and LoadFile, from a parsed model (`weights`:
  // its initializers read separately, may be null).
  absl::StatusOr<LoadedFunctionPtr> LoadModel(const v1::FunctionSpec& spec,
                                              ::onnx::ModelProto model,
                                              std::map<std::string, onnx::Tensor>* weights);

  const onnx::OpRegistry registry_;
  const Options options_;
  const common::Clock& clock_;
  const int threads_;
  // Shared with loaded functions, which may outlive the runtime; null when
  // threads_ == 1.
  const std::shared_ptr<onnx::IntraOpPool> pool_;
};

}  // namespace stoa::functions
