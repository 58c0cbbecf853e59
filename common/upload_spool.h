// Request bodies written to disk as they arrive (HttpServer upload routes,
// HttpServer::Options::upload_limit): a model artifact of hundreds of
// megabytes never sits whole in memory.
//
// SpooledBody: a finished upload, a file in the upload directory; the file
// is removed when the last reference goes, unless a handler Release()s it
// (after moving it elsewhere, e.g. renaming it into a store).
//
// UploadSpool: the file being written. Open creates it (O_EXCL, mode 0600,
// a name no other upload has); Write appends; Finish hands the file over as
// a SpooledBody. An UploadSpool destroyed before Finish removes its file, so
// an upload cut short (413, a client gone, a timeout) leaves nothing.
//
// Errors name the file and the cause, e.g. "writing the upload
// /d/uploads/upload-3f2a.part: No space left on device" (RESOURCE_EXHAUSTED
// for ENOSPC/EDQUOT, INTERNAL otherwise).
// Thread safety: one owner at a time (a connection's strand); SpooledBody
// may be shared read-only across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stoa::common {

class SpooledBody {
 public:
  SpooledBody(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // The file is the caller's now: it is not removed.
  void Release() { released_ = true; }

 private:
  const std::string path_;
  const uint64_t size_;
  bool released_ = false;
};

class UploadSpool {
 public:
  // A new file in `dir` (which must exist).
  static absl::StatusOr<std::unique_ptr<UploadSpool>> Open(const std::string& dir);
  ~UploadSpool();
  UploadSpool(const UploadSpool&) = delete;
  UploadSpool& operator=(const UploadSpool&) = delete;

  absl::Status Write(std::string_view bytes);
  uint64_t size() const { return size_; }
  // Closes the file and hands it over; the spool is spent.
  absl::StatusOr<std::shared_ptr<SpooledBody>> Finish();

 private:
  UploadSpool(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Removes upload files left by a process that died mid-upload; returns how
// many. For the owner of `dir` at start-up.
size_t RemoveStaleUploads(const std::string& dir);

}  // namespace stoa::common
