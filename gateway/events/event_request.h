// How an event's stored body becomes an invocation, and its answer a
// result, exactly as the synchronous POST /v1/functions/{name}/invoke does
// (gateway/rest_api.cc): a KServe v2 body (JSON, or Triton's binary
// extension) checked against the signature of a function that takes
// tensors (ONNX, or a pipeline whose first stage is ONNX: TakesTensors), or
// the raw bytes otherwise; the answer rendered as KServe JSON when the
// function answers tensors (AnswersTensors), or the raw bytes with the
// spec's content type.
//
//   Prepare  INVALID_ARGUMENT naming the problem, as the synchronous route.
//   Render   the result's body and content type; errors as
//            RenderHttpInferResponse (an output over the limit).
//
// Thread safety: pure functions.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/kserve_codec.h"
#include "stoa/v1/executor.pb.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway::events {

struct PreparedInvocation {
  v1::InvokeRequest request;
  // The request the answer is rendered against (its id, requested
  // outputs): set when the function answers tensors, null for raw answers.
  std::shared_ptr<InferRequest> infer;
};

absl::StatusOr<PreparedInvocation> Prepare(const v1::FunctionSpec& spec, const std::string& body,
                                           const std::string& inference_header_length,
                                           uint32_t max_json_depth);

struct RenderedResult {
  std::string body;
  std::string content_type;
};

absl::StatusOr<RenderedResult> Render(const v1::FunctionSpec& spec, const InferRequest* infer,
                                      v1::InvokeResponse& response, uint64_t max_output_bytes);

}  // namespace stoa::gateway::events
