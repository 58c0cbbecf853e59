// "source": "file:///path" in a registration (as KServe's storageUri): the
// artifact is a file on the gateway host instead of bytes in the request.
//
// ResolveFileSource checks the URI against the directories the operator
// allowed (--artifact-source-dir, repeatable; none: every source is
// refused, PERMISSION_DENIED naming the flag). The path is canonicalized
// (symbolic links and "..", std::filesystem::canonical) and must then lie
// under one of the canonicalized directories, so neither ".." nor a link
// inside an allowed directory escapes it. Errors: INVALID_ARGUMENT for a
// URI that is not file:///…, with a host, or with percent-escapes;
// PERMISSION_DENIED outside the allowed directories; NOT_FOUND for a
// missing file; INVALID_ARGUMENT for a path that is not a regular file.
// Returns the canonical path.
//
// Thread safety: pure function (reads the file system).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::gateway {

absl::StatusOr<std::string> ResolveFileSource(const std::string& uri,
                                              const std::vector<std::string>& allowed_dirs);

}  // namespace stoa::gateway
