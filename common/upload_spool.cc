#include "common/upload_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"

namespace stoa::common {
namespace {

constexpr std::string_view kPrefix = "upload-";
constexpr std::string_view kSuffix = ".part";

std::string RandomName() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return absl::StrFormat("%s%016x%s", kPrefix, random(), kSuffix);
}

}  // namespace

SpooledBody::~SpooledBody() {
  if (!released_) ::unlink(path_.c_str());
}

absl::StatusOr<std::unique_ptr<UploadSpool>> UploadSpool::Open(const std::string& dir) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string path = absl::StrCat(dir, "/", RandomName());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) return std::unique_ptr<UploadSpool>(new UploadSpool(std::move(path), fd));
    if (errno != EEXIST) {
      const int error = errno;
      return FileErrno("writing the upload", path, error);
    }
  }
  return absl::InternalError(absl::StrCat("no free upload file name in ", dir));
}

UploadSpool::~UploadSpool() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

absl::Status UploadSpool::Write(std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError("the upload is finished");
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FileErrno("writing the upload", path_, n < 0 ? errno : ENOSPC);
    bytes.remove_prefix(static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SpooledBody>> UploadSpool::Finish() {
  if (fd_ < 0) return absl::FailedPreconditionError("the upload is finished");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(path_.c_str());
    return FileErrno("writing the upload", path_, error);
  }
  return std::make_shared<SpooledBody>(path_, size_);
}

size_t RemoveStaleUploads(const std::string& dir) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(kPrefix) && name.ends_with(kSuffix) &&
        std::filesystem::remove(entry.path(), ec)) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace stoa::common
