// The body of a registration (POST /v1/functions, PUT /v1/functions/{name})
// turned into a Registration: the spec, and the artifact staged as a file in
// the upload directory with its sha256 (common/artifact_file.h).
//
// Forms (docs/api.md § Registering):
//   multipart/form-data  part `spec` (JSON, at most 1 MiB) and part
//                        `artifact` (the bytes); parsed by offsets in the
//                        spooled upload (multipart_file.h), the artifact
//                        copied into a staged file in 1 MiB steps.
//   application/json     the spec with `artifact_base64` (at most 64 MiB of
//                        JSON: larger artifacts go as multipart or source).
//   either, with `source` in the spec instead of the bytes: a file:/// URI
//                        under an --artifact-source-dir (artifact_source.h),
//                        copied into a staged file.
// A request whose body was read into memory (no upload file) is parsed the
// same way from HttpRequest::body.
//
// Errors name the problem: INVALID_ARGUMENT (malformed body, spec, both or
// neither of artifact and source), OUT_OF_RANGE (artifact size limit; a
// JSON registration over 64 MiB), FAILED_PRECONDITION (415: another
// Content-Type), PERMISSION_DENIED / NOT_FOUND (source). Nothing is left in
// the upload directory on error.
// Thread safety: pure functions (they write staged files).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_types.h"
#include "common/request_limits.h"
#include "gateway/control_plane.h"

namespace stoa::gateway {

inline constexpr uint64_t kMaxSpecPartBytes = 1 << 20;
inline constexpr uint64_t kMaxJsonRegistrationBytes = 64 << 20;

absl::StatusOr<Registration> ParseRegistration(const common::HttpRequest& request,
                                               const common::RequestLimits& limits,
                                               const std::string& upload_dir);

// HttpServer::Options::upload_limit for the gateway: `limit` for POST
// /v1/functions and PUT /v1/functions/{name} (paths as sent), 0 (not an
// upload route) for everything else.
uint64_t RegistrationUploadLimit(std::string_view method, std::string_view path, uint64_t limit);

}  // namespace stoa::gateway
