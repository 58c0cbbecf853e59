#include "gateway/multipart_file.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/artifact_file.h"
#include "common/http_status.h"
#include "common/status_macros.h"

namespace stoa::gateway {
namespace {

constexpr uint64_t kMaxHeaderBlock = 16 * 1024;

// Offsets of every `needle` in the file, in order (overlaps excluded).
absl::StatusOr<std::vector<uint64_t>> FindAll(const common::ChunkedFile& file,
                                              const std::string& needle) {
  std::vector<uint64_t> found;
  std::string carry;
  for (uint64_t offset = 0; offset < file.size();) {
    ASSIGN_OR_RETURN(std::string chunk, file.ReadAt(offset, common::kArtifactChunkBytes));
    const uint64_t window_start = offset - carry.size();
    std::string window = carry + chunk;
    for (size_t at = window.find(needle); at != std::string::npos;
         at = window.find(needle, at + needle.size())) {
      const uint64_t absolute = window_start + at;
      if (found.empty() || absolute >= found.back() + needle.size()) found.push_back(absolute);
    }
    offset += chunk.size();
    const size_t keep = std::min(window.size(), needle.size() - 1);
    carry = window.substr(window.size() - keep);
  }
  return found;
}

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// The part whose boundary line starts at `pos`; `pos` moves past its body.
absl::StatusOr<FilePart> ReadPart(const common::ChunkedFile& file,
                                  const std::vector<uint64_t>& delims, size_t delim_size,
                                  size_t index, uint64_t& pos) {
  ASSIGN_OR_RETURN(std::string head, file.ReadAt(pos, kMaxHeaderBlock));
  size_t at = 0;
  while (at < head.size() && (head[at] == ' ' || head[at] == '\t')) ++at;
  if (head.compare(at, 2, "\r\n") != 0) {
    return Invalid(
        absl::StrCat("multipart body: boundary of part ", index, " is not followed by CRLF"));
  }
  at += 2;
  size_t headers_end = head.compare(at, 2, "\r\n") == 0 ? at : head.find("\r\n\r\n", at);
  if (headers_end == std::string::npos) {
    return Invalid(absl::StrCat("multipart part ", index, ": headers are not terminated within ",
                                kMaxHeaderBlock, " bytes"));
  }
  FilePart part;
  RETURN_IF_ERROR(
      ParsePartHeaders(std::string_view(head).substr(at, headers_end - at), index, part.head));
  part.offset = pos + headers_end + (headers_end == at ? 2 : 4);
  auto end = std::lower_bound(delims.begin(), delims.end(), part.offset);
  if (end == delims.end()) {
    return Invalid(absl::StrCat("multipart part ", index, " ('",
                                common::EchoLimited(part.head.name),
                                "') is not terminated by a boundary (truncated body?)"));
  }
  part.length = *end - part.offset;
  pos = *end + delim_size;
  return part;
}

}  // namespace

absl::StatusOr<std::vector<FilePart>> ParseMultipartFile(std::string_view content_type,
                                                         const std::string& path, uint64_t size,
                                                         size_t max_parts) {
  ASSIGN_OR_RETURN(std::string boundary, MultipartBoundary(content_type));
  const std::string delim = "--" + boundary;
  const std::string next_delim = "\r\n" + delim;
  ASSIGN_OR_RETURN(std::unique_ptr<common::ChunkedFile> file, common::ChunkedFile::Open(path));
  if (file->size() != size) {
    return absl::InternalError(
        absl::StrCat("upload ", path, " has ", file->size(), " bytes, expected ", size));
  }
  ASSIGN_OR_RETURN(std::vector<uint64_t> delims, FindAll(*file, next_delim));
  ASSIGN_OR_RETURN(std::string start, file->ReadAt(0, delim.size()));
  uint64_t pos;
  if (start == delim) {
    pos = delim.size();
  } else if (!delims.empty()) {
    pos = delims.front() + next_delim.size();
  } else {
    return Invalid(absl::StrCat("multipart body does not contain the boundary '", boundary, "'"));
  }
  std::vector<FilePart> parts;
  for (size_t index = 1;; ++index) {
    ASSIGN_OR_RETURN(std::string dashes, file->ReadAt(pos, 2));
    if (dashes == "--") return parts;  // the closing delimiter
    ASSIGN_OR_RETURN(FilePart part, ReadPart(*file, delims, next_delim.size(), index, pos));
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].head.name == part.head.name) {
        return Invalid(absl::StrCat("multipart part ", index, " repeats the name '",
                                    common::EchoLimited(part.head.name), "' of part ", i + 1,
                                    ": each part may appear once"));
      }
    }
    if (parts.size() == max_parts) {
      return Invalid(absl::StrCat("multipart body has more than ", max_parts,
                                  " parts (multipart part count limit)"));
    }
    parts.push_back(std::move(part));
    if (pos >= file->size()) return Invalid("multipart body has no closing boundary");
  }
}

const FilePart* FindFilePart(const std::vector<FilePart>& parts, std::string_view name) {
  for (const FilePart& p : parts) {
    if (p.head.name == name) return &p;
  }
  return nullptr;
}

}  // namespace stoa::gateway
