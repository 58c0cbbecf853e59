#include "gateway/kserve_binary.h"

#include <charconv>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gateway/kserve_response.h"

namespace stoa::gateway {

absl::StatusOr<InferRequest> ParseHttpInferRequest(std::string_view body,
                                                   std::string_view header_length,
                                                   uint32_t max_json_depth) {
  if (header_length.empty()) return ParseInferRequest(body, max_json_depth);
  uint64_t n = 0;
  const char* end = header_length.data() + header_length.size();
  auto [ptr, ec] = std::from_chars(header_length.data(), end, n);
  if (ec != std::errc() || ptr != end) {
    return absl::InvalidArgumentError(
        absl::StrCat("header Inference-Header-Content-Length must be a decimal byte count, got '",
                     std::string(header_length.substr(0, 32)), "'"));
  }
  if (n > body.size()) {
    return absl::InvalidArgumentError(absl::StrCat("header Inference-Header-Content-Length is ", n,
                                                   " bytes, but the body has only ", body.size()));
  }
  const size_t json = static_cast<size_t>(n);
  return ParseInferHeader(body.substr(0, json), body.substr(json), max_json_depth);
}

absl::StatusOr<common::HttpResponse> RenderHttpInferResponse(
    std::string_view model_name, uint64_t model_version, const InferRequest& request,
    const google::protobuf::RepeatedPtrField<v1::Tensor>& outputs, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(RenderedResponse rendered,
                   RenderInferResponse(model_name, model_version, request, outputs, max_bytes));
  common::HttpResponse r;
  r.body = std::move(rendered.body);
  if (rendered.json_bytes != 0) {
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(rendered.json_bytes));
  }
  return r;
}

}  // namespace stoa::gateway
