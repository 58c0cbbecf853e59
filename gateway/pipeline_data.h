// How data moves from one pipeline stage to the next (the data-passing rule
// of gateway/pipeline_spec.h), in binary: tensors and bytes are moved from
// one stage's InvokeResponse into the next stage's InvokeRequest, never
// re-encoded through JSON. On the in-process edge the request is then
// handed to the runtime as it is; a gRPC executor gets it as protobuf.
//
//   StageRequest   fits `input` (tensors or raw bytes: the pipeline's own
//                  request, or the previous stage's answer) to what `stage`
//                  takes: tensors renamed by position to its input names,
//                  bytes turned into its single input (the one dynamic
//                  dimension inferred), tensors concatenated into bytes for a
//                  wasm stage. INVALID_ARGUMENT saying what does not fit
//                  (the caller prefixes the stage label).
//   AsNextInput    a stage's answer as the next stage's input.
//
// Thread safety: pure functions.
#pragma once

#include "absl/status/statusor.h"
#include "stoa/v1/executor.pb.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

absl::StatusOr<v1::InvokeRequest> StageRequest(v1::InvokeRequest input,
                                               const v1::FunctionSpec& stage);

v1::InvokeRequest AsNextInput(v1::InvokeResponse output);

}  // namespace stoa::gateway
