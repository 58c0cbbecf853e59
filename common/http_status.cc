#include "common/http_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json_text.h"
#include "common/request_limits.h"
#include "nlohmann/json.hpp"

namespace stoa::common {

int ToHttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 413;
    case absl::StatusCode::kFailedPrecondition:
      return 415;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kCancelled:
      return 499;
    default:
      return 500;
  }
}

int ToHttpStatus(const absl::Status& status) {
  if (IsOutputTooLarge(status)) return 507;
  return ToHttpStatus(status.code());
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  nlohmann::json body;
  body["error"]["code"] = std::string(code);
  body["error"]["message"] = std::string(message);
  return DumpJson(body);
}

std::string ErrorJson(const absl::Status& status) {
  return ErrorJson(absl::StatusCodeToString(status.code()),
                   std::string_view(status.message().data(), status.message().size()));
}

std::string EchoLimited(std::string_view text) {
  constexpr size_t kEcho = 64;
  if (text.size() <= kEcho) return std::string(text);
  return absl::StrCat(std::string(text.substr(0, kEcho)), "... (", text.size(), " bytes)");
}

std::string OutcomeLabel(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

}  // namespace stoa::common
