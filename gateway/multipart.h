// A multipart/form-data parser (RFC 7578) for registration uploads: the
// `spec` part (JSON) and the `artifact` part (model bytes). Binary-safe: a
// part's body is everything between the header block and the next
// CRLF + "--" + boundary, so bytes such as CRLF or "--" inside an artifact
// are kept as they are.
//
// Errors are INVALID_ARGUMENT naming the problem ("Content-Type has no
// boundary parameter", "part 2 has no Content-Disposition name", …). A
// body may hold at most max_parts parts (kMaxMultipartParts by default), each name at most once
// (a second 'spec' part is refused, not silently ignored).
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::gateway {

inline constexpr size_t kMaxMultipartParts = 8;

struct MultipartPart {
  std::string name;          // Content-Disposition name=
  std::string filename;      // Content-Disposition filename=, "" if none
  std::string content_type;  // the part's Content-Type, "" if none
  std::string body;
};

// The boundary parameter of a multipart Content-Type header value
// (quoted or not). INVALID_ARGUMENT when absent or longer than 70 chars.
absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type);

// Parses a multipart body given its Content-Type header value; at most
// `max_parts` parts (the operator's --max-multipart-parts).
absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type,
                                                          std::string_view body,
                                                          size_t max_parts = kMaxMultipartParts);

// Fills name, filename and content_type of `part` from its header block
// (the lines between the boundary and the blank line); `index` (from 1)
// names the part in errors.
absl::Status ParsePartHeaders(std::string_view block, size_t index, MultipartPart& part);

// The first part named `name`, nullptr if none.
const MultipartPart* FindPart(const std::vector<MultipartPart>& parts, std::string_view name);

}  // namespace stoa::gateway
