// Artifact files: model and module bytes that stay on disk, never whole in
// memory (a registration of hundreds of megabytes, a streamed LoadFunction).
//
// Bytes are hashed as they pass (Sha256Stream, common/sha256.h). StagedArtifact is a file this
// process wrote in a spool directory (common/upload_spool.h names and
// removes it: RemoveStaleUploads clears what a crash left), with its size
// and digest, fsynced, ready to be renamed into a store (Release the
// SpooledBody after the rename; otherwise it is removed when the last
// reference goes). The Stage* functions copy with a 1 MiB buffer, so a copy
// of any size costs 1 MiB of memory; `max_bytes` (0: none) stops a copy
// that grows past it with OUT_OF_RANGE naming the artifact size limit.
//
// Errors name the file and the cause (NOT_FOUND for a missing file,
// RESOURCE_EXHAUSTED for a full disk, INTERNAL otherwise).
// Thread safety: pure functions; a Sha256Stream has one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "common/upload_spool.h"

namespace stoa::common {

inline constexpr uint64_t kArtifactChunkBytes = 1 << 20;

struct StagedArtifact {
  std::shared_ptr<SpooledBody> file;  // path() and size()
  std::string sha256;
};

// Copies [offset, offset + length) of `source` into a new file in `dir`.
absl::StatusOr<StagedArtifact> StageFileRange(const std::string& source, uint64_t offset,
                                              uint64_t length, const std::string& dir);
// Writes `bytes` into a new file in `dir`.
absl::StatusOr<StagedArtifact> StageBytes(std::string_view bytes, const std::string& dir);

// A file opened for reading in chunks (pread), e.g. to stream it to an
// executor. Open fails NOT_FOUND naming a missing file.
class ChunkedFile {
 public:
  static absl::StatusOr<std::unique_ptr<ChunkedFile>> Open(const std::string& path);
  ~ChunkedFile();
  ChunkedFile(const ChunkedFile&) = delete;
  ChunkedFile& operator=(const ChunkedFile&) = delete;

  uint64_t size() const { return size_; }
  // Up to `max` bytes at `offset` (fewer only at the end of the file).
  absl::StatusOr<std::string> ReadAt(uint64_t offset, uint64_t max) const;

 private:
  ChunkedFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

// The digest of a whole file, read in chunks; `size` (may be null) gets its length.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path, uint64_t* size = nullptr);
// The bytes [offset, offset + length) of a file (for small parts only).
absl::StatusOr<std::string> ReadFileRange(const std::string& path, uint64_t offset,
                                          uint64_t length);
// fsync of an existing file.
absl::Status SyncFile(const std::string& path);

}  // namespace stoa::common
