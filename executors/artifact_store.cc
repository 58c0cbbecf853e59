#include "executors/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace stoa::executors {
namespace {

namespace fs = std::filesystem;

constexpr char kKeyPrefix[] = "sha256/";
constexpr size_t kKeyPrefixSize = sizeof(kKeyPrefix) - 1;
constexpr size_t kReadChunk = 1 << 20;

// The sha256 of what `fd` holds from its current offset to the end.
absl::StatusOr<std::string> HashFd(int fd, const std::string& what) {
  common::Sha256Stream hash;
  std::string buffer(kReadChunk, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("artifact store: reading ", what, ": ", std::string(strerror(errno))));
    }
    if (n == 0) break;
    hash.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  return hash.FinishHex();
}

struct OpenFile {
  int fd;
  std::string canonical;
};

// Opens the key's file without following a link at its last component and
// checks that it is a regular file under `dir`.
absl::StatusOr<OpenFile> OpenConfined(const std::string& dir, const std::string& key) {
  const std::string path = absl::StrCat(dir, "/", key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("artifact store: ", key, " is not in ", dir));
    }
    if (error == ELOOP) {
      return absl::PermissionDeniedError(
          absl::StrCat("artifact store: ", key, " is a symbolic link; refused"));
    }
    return absl::InternalError(absl::StrCat("artifact store: opening ", key, " in ", dir, ": ",
                                            std::string(strerror(error))));
  }
  absl::Cleanup close_on_error = [fd] { ::close(fd); };
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("artifact store: ", key, " is not a regular file"));
  }
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  const fs::path relative = ec ? fs::path() : canonical.lexically_relative(dir);
  if (ec || relative.empty() || *relative.begin() == "..") {
    return absl::PermissionDeniedError(
        absl::StrCat("artifact store: ", key, " resolves outside ", dir, "; refused"));
  }
  std::move(close_on_error).Cancel();
  return OpenFile{.fd = fd, .canonical = canonical.string()};
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string StoreKey(std::string_view sha256_hex) {
  return absl::StrCat(kKeyPrefix, std::string(sha256_hex));
}

std::optional<std::string> StoreKeyOf(const std::string& dir, const std::string& path,
                                      std::string_view sha256_hex) {
  if (dir.empty() || path.empty() || !IsSha256Hex(sha256_hex)) return std::nullopt;
  const fs::path expected = (fs::path(dir) / "sha256" / std::string(sha256_hex)).lexically_normal();
  if (fs::path(path).lexically_normal() != expected) return std::nullopt;
  return StoreKey(sha256_hex);
}

absl::StatusOr<ArtifactStore> ArtifactStore::Open(const std::string& dir) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(canonical, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--artifact-store ", dir, ": not an existing directory"));
  }
  return ArtifactStore(canonical.string());
}

absl::StatusOr<std::string> ArtifactStore::Resolve(std::string_view key,
                                                   std::string_view expected_sha256) const {
  const std::string k(key);
  if (!absl::StartsWith(k, kKeyPrefix) || !IsSha256Hex(key.substr(kKeyPrefixSize))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact store: '", k, "' is not a store key (expected sha256/<64 lowercase hex>)"));
  }
  if (key.substr(kKeyPrefixSize) != expected_sha256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact store: ", k, " does not name the spec's sha256 ", std::string(expected_sha256)));
  }
  absl::StatusOr<OpenFile> file = OpenConfined(dir_, k);
  if (!file.ok()) return file.status();
  absl::Cleanup close_fd = [fd = file->fd] { ::close(fd); };
  absl::StatusOr<std::string> digest = HashFd(file->fd, k);
  if (!digest.ok()) return digest.status();
  if (*digest != expected_sha256) {
    return absl::DataLossError(absl::StrCat("artifact store: ", k, " holds bytes of sha256 ",
                                            *digest, ": the file is corrupted"));
  }
  return file->canonical;
}

}  // namespace stoa::executors
