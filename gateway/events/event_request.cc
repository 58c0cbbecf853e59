#include "gateway/events/event_request.h"

#include "gateway/kserve_binary.h"
#include "gateway/pipeline_spec.h"

namespace stoa::gateway::events {

absl::StatusOr<PreparedInvocation> Prepare(const v1::FunctionSpec& spec, const std::string& body,
                                           const std::string& inference_header_length,
                                           uint32_t max_json_depth) {
  PreparedInvocation out;
  // A pipeline takes what its first stage takes and answers what its last
  // does (gateway/pipeline_spec.h), as the synchronous route decides.
  if (AnswersTensors(spec)) out.infer = std::make_shared<InferRequest>();
  if (!TakesTensors(spec)) {
    out.request.set_raw(body);
    return out;
  }
  auto parsed = ParseHttpInferRequest(body, inference_header_length, max_json_depth);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = CheckAgainstSignature(*parsed, spec); !s.ok()) return s;
  for (auto& t : parsed->inputs) *out.request.add_inputs() = std::move(t);
  parsed->inputs.clear();
  if (out.infer) *out.infer = *std::move(parsed);
  return out;
}

absl::StatusOr<RenderedResult> Render(const v1::FunctionSpec& spec, const InferRequest* infer,
                                      v1::InvokeResponse& response, uint64_t max_output_bytes) {
  RenderedResult out;
  if (infer != nullptr) {
    auto rendered = RenderHttpInferResponse(spec.name(), spec.version(), *infer, response.outputs(),
                                            max_output_bytes);
    if (!rendered.ok()) return rendered.status();
    out.body = std::move(rendered->body);
    out.content_type = rendered->content_type;
    return out;
  }
  out.content_type = spec.content_type().empty() ? "application/octet-stream" : spec.content_type();
  out.body = std::move(*response.mutable_raw());
  return out;
}

}  // namespace stoa::gateway::events
