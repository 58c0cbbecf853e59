#include "common/artifact_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace stoa::common {
namespace {

absl::StatusOr<StagedArtifact> Finish(std::unique_ptr<UploadSpool> spool, Sha256Stream& hash) {
  absl::StatusOr<std::shared_ptr<SpooledBody>> body = spool->Finish();
  if (!body.ok()) return body.status();
  if (absl::Status synced = SyncFile((*body)->path()); !synced.ok()) return synced;
  return StagedArtifact{*std::move(body), hash.FinishHex()};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChunkedFile>> ChunkedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileErrno("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return FileErrno("cannot stat", path, error);
  }
  return std::unique_ptr<ChunkedFile>(new ChunkedFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

ChunkedFile::~ChunkedFile() { ::close(fd_); }

absl::StatusOr<std::string> ChunkedFile::ReadAt(uint64_t offset, uint64_t max) const {
  std::string out(offset >= size_ ? 0 : std::min(max, size_ - offset), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileErrno("cannot read", path_, errno);
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat(path_, " ended at byte ", offset + done, " while being read"));
    }
    done += static_cast<size_t>(n);
  }
  return out;
}

absl::StatusOr<StagedArtifact> StageFileRange(const std::string& source, uint64_t offset,
                                              uint64_t length, const std::string& dir) {
  absl::StatusOr<std::unique_ptr<ChunkedFile>> in = ChunkedFile::Open(source);
  if (!in.ok()) return in.status();
  if (offset + length > (*in)->size()) {
    return absl::InvalidArgumentError(absl::StrCat("byte range ", offset, "+", length,
                                                   " is past the end of ", source, " (",
                                                   (*in)->size(), " bytes)"));
  }
  absl::StatusOr<std::unique_ptr<UploadSpool>> out = UploadSpool::Open(dir);
  if (!out.ok()) return out.status();
  Sha256Stream hash;
  for (uint64_t done = 0; done < length;) {
    absl::StatusOr<std::string> chunk =
        (*in)->ReadAt(offset + done, std::min(kArtifactChunkBytes, length - done));
    if (!chunk.ok()) return chunk.status();
    hash.Update(*chunk);
    if (absl::Status s = (*out)->Write(*chunk); !s.ok()) return s;
    done += chunk->size();
  }
  return Finish(*std::move(out), hash);
}

absl::StatusOr<StagedArtifact> StageBytes(std::string_view bytes, const std::string& dir) {
  absl::StatusOr<std::unique_ptr<UploadSpool>> out = UploadSpool::Open(dir);
  if (!out.ok()) return out.status();
  Sha256Stream hash;
  hash.Update(bytes);
  if (absl::Status s = (*out)->Write(bytes); !s.ok()) return s;
  return Finish(*std::move(out), hash);
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path, uint64_t* size) {
  absl::StatusOr<std::unique_ptr<ChunkedFile>> in = ChunkedFile::Open(path);
  if (!in.ok()) return in.status();
  Sha256Stream hash;
  for (uint64_t done = 0; done < (*in)->size();) {
    absl::StatusOr<std::string> chunk = (*in)->ReadAt(done, kArtifactChunkBytes);
    if (!chunk.ok()) return chunk.status();
    hash.Update(*chunk);
    done += chunk->size();
  }
  if (size != nullptr) *size = (*in)->size();
  return hash.FinishHex();
}

absl::StatusOr<std::string> ReadFileRange(const std::string& path, uint64_t offset,
                                          uint64_t length) {
  absl::StatusOr<std::unique_ptr<ChunkedFile>> in = ChunkedFile::Open(path);
  if (!in.ok()) return in.status();
  return (*in)->ReadAt(offset, length);
}

absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileErrno("cannot open", path, errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return FileErrno("cannot fsync", path, error);
  return absl::OkStatus();
}

}  // namespace stoa::common
