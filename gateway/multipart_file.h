// A multipart/form-data body (RFC 7578) parsed where it lies: in an upload
// file (common/upload_spool.h), by offsets. The file is read in 1 MiB
// windows (pread) to find the boundaries, so a part of any size costs no
// memory: the caller reads the small parts it needs (ReadFileRange) and
// copies the large one (StageFileRange). The rules and error messages are
// those of ParseMultipart (multipart.h): binary-safe bodies, at most
// `max_parts` parts, each name once.
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/multipart.h"

namespace stoa::gateway {

struct FilePart {
  MultipartPart head;   // name, filename, content_type; body empty
  uint64_t offset = 0;  // of the part's body in the file
  uint64_t length = 0;
};

absl::StatusOr<std::vector<FilePart>> ParseMultipartFile(std::string_view content_type,
                                                         const std::string& path, uint64_t size,
                                                         size_t max_parts = kMaxMultipartParts);

// The first part named `name`, nullptr if none.
const FilePart* FindFilePart(const std::vector<FilePart>& parts, std::string_view name);

}  // namespace stoa::gateway
