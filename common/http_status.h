// The one conversion from absl::Status to HTTP: status code and the JSON
// error body of the REST API, {"error":{"code":"INVALID_ARGUMENT","message":"..."}}.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace stoa::common {

// INVALID_ARGUMENT→400, NOT_FOUND→404, ALREADY_EXISTS→409, OUT_OF_RANGE→413,
// FAILED_PRECONDITION→415 (wrong content type), RESOURCE_EXHAUSTED→429,
// UNAVAILABLE→503, DEADLINE_EXCEEDED→504, UNIMPLEMENTED→501, anything else→500.
int ToHttpStatus(absl::StatusCode code);

// The REST error body for a non-OK status.
std::string ErrorJson(const absl::Status& status);

}  // namespace stoa::common
