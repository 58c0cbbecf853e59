// The error taxonomy in one place (docs/architecture.md § Errors): every
// absl::StatusCode has one HTTP meaning, one JSON error body, and one
// outcome label for metrics.
//
//   INVALID_ARGUMENT    400  the request (or artifact, or spec) is wrong
//   UNAUTHENTICATED     401  no or bad credentials
//   PERMISSION_DENIED   403  not allowed
//   NOT_FOUND           404  unknown function, route or invocation
//   ALREADY_EXISTS      409  the function exists
//   OUT_OF_RANGE        413  over a size limit
//   FAILED_PRECONDITION 415  a media type the route does not take (only that)
//   RESOURCE_EXHAUSTED  429  over a rate or concurrency limit; 507 when it
//                            is a function's output over the output size
//                            limit (common::IsOutputTooLarge: retrying
//                            cannot help; ToHttpStatus(status) only)
//   CANCELLED           499  the caller withdrew the request
//   UNIMPLEMENTED       501  a valid request Stoa cannot serve (yet)
//   UNAVAILABLE         503  no tier can take it (unreachable, circuit open)
//   DEADLINE_EXCEEDED   504  the function did not finish within its deadline
//   anything else       500  a bug or an unexpected failure
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace stoa::common {

int ToHttpStatus(absl::StatusCode code);
// As above, and 507 for an output over the output size limit.
int ToHttpStatus(const absl::Status& status);

// The REST error body, {"error":{"code":"INVALID_ARGUMENT","message":"…"}};
// the second form for answers that have no StatusCode (405
// METHOD_NOT_ALLOWED).
std::string ErrorJson(const absl::Status& status);
std::string ErrorJson(std::string_view code, std::string_view message);

// `text` (a name, a path) as an error message may echo it: at most 64
// bytes, then "... (N bytes)", so a client cannot make errors huge.
std::string EchoLimited(std::string_view text);

// The outcome label of metrics (stoa_invocations_total and the executor's
// stoa_executor_invocations_total): "ok" or the lower-case code name
// ("invalid_argument", "not_found", "unavailable", "deadline_exceeded",
// "cancelled", …).
std::string OutcomeLabel(const absl::Status& status);

}  // namespace stoa::common
