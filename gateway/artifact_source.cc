#include "gateway/artifact_source.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"

namespace stoa::gateway {
namespace {

namespace fs = std::filesystem;

constexpr char kScheme[] = "file://";

bool Under(const fs::path& path, const fs::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
    if (d->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return p != path.end();
}

}  // namespace

absl::StatusOr<std::string> ResolveFileSource(const std::string& uri,
                                              const std::vector<std::string>& allowed_dirs) {
  const std::string shown = common::EchoLimited(uri);
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'source' must be a file:/// URI (a file on the gateway host), got '", shown, "'"));
  }
  const std::string path = uri.substr(sizeof(kScheme) - 1);
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "'source' '", shown, "' names a host or a relative path; use file:///absolute/path"));
  }
  if (path.find('%') != std::string::npos || path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'source' '", shown, "' has percent-escapes or NUL bytes, which are refused"));
  }
  if (allowed_dirs.empty()) {
    return absl::PermissionDeniedError(
        "'source' is refused: the gateway allows no artifact source directory (start it with "
        "--artifact-source-dir DIR)");
  }
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("'source' ", shown, ": ", ec.message()));
  }
  bool allowed = false;
  for (const std::string& dir : allowed_dirs) {
    std::error_code dir_ec;
    const fs::path root = fs::canonical(dir, dir_ec);
    if (!dir_ec && Under(canonical, root)) allowed = true;
  }
  if (!allowed) {
    return absl::PermissionDeniedError(absl::StrCat("'source' ", shown, " (", canonical.string(),
                                                    ") is outside every --artifact-source-dir"));
  }
  if (!fs::is_regular_file(canonical, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("'source' ", shown, " is not a regular file"));
  }
  return canonical.string();
}

}  // namespace stoa::gateway
