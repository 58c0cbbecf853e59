// Files that must survive a crash. WriteFileAtomically writes a temporary
// file beside the target, fsyncs it, renames it over the target and fsyncs
// the directory, so after a crash the target holds either the old or the new
// contents, never a mix. Errors name the path and the failing call.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stoa::common {

absl::Status WriteFileAtomically(const std::string& path, std::string_view contents);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Creates the directory and its parents; OK if it exists.
absl::Status MakeDirs(const std::string& path);
// fsyncs a directory so that a rename or unlink inside it is durable.
absl::Status SyncDir(const std::string& path);
// A failed file call as a status: "WHAT PATH: strerror(error)", NOT_FOUND
// for ENOENT, RESOURCE_EXHAUSTED for ENOSPC and EDQUOT (a full disk or
// quota: the caller may retry later), INTERNAL otherwise.
absl::Status FileErrno(std::string_view what, const std::string& path, int error);

}  // namespace stoa::common
