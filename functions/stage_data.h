// How data moves from one pipeline stage to the next (the data-passing rule
// of docs/pipelines.md), in binary: tensors and bytes are moved from one
// stage's InvokeResponse into the next stage's InvokeRequest, never
// re-encoded through JSON. The gateway's PipelineInvoker uses it between
// stages it runs one by one; an executor running a chain of stages in one
// call (executors/chain_runner.h) uses the same functions, so both sides
// convert alike.
//
//   StageRequest   fits `input` (tensors or raw bytes: the pipeline's own
//                  request, or the previous stage's answer) to what the
//                  stage takes: tensors renamed by position to its input
//                  names, bytes turned into its single input (the one
//                  dynamic dimension inferred), tensors concatenated into
//                  bytes for a wasm stage. INVALID_ARGUMENT saying what does
//                  not fit (the caller prefixes the stage label).
//   AsNextInput    a stage's answer as the next stage's input.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "functions/signature.h"
#include "stoa/v1/executor.pb.h"
#include "stoa/v1/function.pb.h"

namespace stoa::functions {

// What a stage takes: its name (for messages), its runtime ("onnx" or
// "wasm") and its declared inputs. Borrows; valid while the source is.
struct StageShape {
  const std::string& name;
  const std::string& runtime;
  const Signature& inputs;
};
inline StageShape ShapeOf(const v1::FunctionSpec& spec) {
  return {spec.name(), spec.runtime(), spec.inputs()};
}
inline StageShape ShapeOf(const v1::ChainStage& stage) {
  return {stage.function(), stage.runtime(), stage.inputs()};
}

absl::StatusOr<v1::InvokeRequest> StageRequest(v1::InvokeRequest input, const StageShape& stage);
inline absl::StatusOr<v1::InvokeRequest> StageRequest(v1::InvokeRequest input,
                                                      const v1::FunctionSpec& stage) {
  return StageRequest(std::move(input), ShapeOf(stage));
}

v1::InvokeRequest AsNextInput(v1::InvokeResponse output);

}  // namespace stoa::functions
