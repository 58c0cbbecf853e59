#include "gateway/multipart.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"

namespace stoa::gateway {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Finds parameter `key` in "type; a=1; b=\"x y\"" (case-insensitive key).
// Returns false when absent.
bool HeaderParam(std::string_view value, std::string_view key, std::string* out) {
  size_t i = value.find(';');
  if (i == std::string_view::npos) return false;
  const size_t n = value.size();
  while (i < n) {
    while (i < n && (value[i] == ';' || value[i] == ' ' || value[i] == '\t')) ++i;
    size_t name_start = i;
    while (i < n && value[i] != '=' && value[i] != ';') ++i;
    std::string_view name = Trim(value.substr(name_start, i - name_start));
    std::string parsed;
    if (i < n && value[i] == '=') {
      ++i;
      while (i < n && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < n && value[i] == '"') {
        for (++i; i < n && value[i] != '"'; ++i) {
          if (value[i] == '\\' && i + 1 < n) ++i;
          parsed.push_back(value[i]);
        }
        if (i < n) ++i;  // closing quote
        while (i < n && value[i] != ';') ++i;
      } else {
        size_t v_start = i;
        while (i < n && value[i] != ';') ++i;
        parsed = std::string(Trim(value.substr(v_start, i - v_start)));
      }
    }
    if (!name.empty() && absl::EqualsIgnoreCase(std::string(name), std::string(key))) {
      *out = std::move(parsed);
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Status ParsePartHeaders(std::string_view block, size_t index, MultipartPart& part) {
  bool has_disposition = false;
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("multipart part ", index,
                                                     ": malformed header line '",
                                                     std::string(line.substr(0, 80)), "'"));
    }
    std::string name = absl::AsciiStrToLower(std::string(Trim(line.substr(0, colon))));
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      has_disposition = true;
      if (!absl::StartsWithIgnoreCase(std::string(value), "form-data")) {
        return absl::InvalidArgumentError(
            absl::StrCat("multipart part ", index, ": Content-Disposition is not form-data"));
      }
      HeaderParam(value, "name", &part.name);
      HeaderParam(value, "filename", &part.filename);
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  if (!has_disposition) {
    return absl::InvalidArgumentError(
        absl::StrCat("multipart part ", index, " has no Content-Disposition header"));
  }
  if (part.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("multipart part ", index, " has no Content-Disposition name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type) {
  if (!absl::StartsWithIgnoreCase(std::string(Trim(content_type)), "multipart/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type '", std::string(content_type), "' is not multipart"));
  }
  std::string boundary;
  if (!HeaderParam(content_type, "boundary", &boundary) || boundary.empty()) {
    return absl::InvalidArgumentError("Content-Type has no boundary parameter");
  }
  if (boundary.size() > 70) {
    return absl::InvalidArgumentError("multipart boundary is longer than 70 characters");
  }
  return boundary;
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type,
                                                          std::string_view body, size_t max_parts) {
  auto boundary = MultipartBoundary(content_type);
  if (!boundary.ok()) return boundary.status();
  const std::string delim = "--" + *boundary;
  const std::string next_delim = "\r\n" + delim;

  size_t pos;
  if (body.substr(0, delim.size()) == delim) {
    pos = delim.size();
  } else {
    size_t found = body.find(next_delim);
    if (found == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("multipart body does not contain the boundary '", *boundary, "'"));
    }
    pos = found + next_delim.size();
  }

  std::vector<MultipartPart> parts;
  for (size_t index = 1;; ++index) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      return absl::InvalidArgumentError(
          absl::StrCat("multipart body: boundary of part ", index, " is not followed by CRLF"));
    }
    pos += 2;
    size_t headers_end;
    if (body.substr(pos, 2) == "\r\n") {
      headers_end = pos;
    } else {
      headers_end = body.find("\r\n\r\n", pos);
      if (headers_end == std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("multipart part ", index, ": headers are not terminated"));
      }
    }
    MultipartPart part;
    auto status = ParsePartHeaders(body.substr(pos, headers_end - pos), index, part);
    if (!status.ok()) return status;
    size_t start = headers_end + (headers_end == pos ? 2 : 4);
    size_t end = body.find(next_delim, start);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("multipart part ", index, " ('", common::EchoLimited(part.name),
                       "') is not terminated by a boundary (truncated body?)"));
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].name == part.name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "multipart part ", index, " repeats the name '", common::EchoLimited(part.name),
            "' of part ", i + 1, ": each part may appear once"));
      }
    }
    if (parts.size() == max_parts) {
      return absl::InvalidArgumentError(absl::StrCat("multipart body has more than ", max_parts,
                                                     " parts (multipart part count limit)"));
    }
    part.body = std::string(body.substr(start, end - start));
    parts.push_back(std::move(part));
    pos = end + next_delim.size();
    if (pos >= body.size()) {
      return absl::InvalidArgumentError("multipart body has no closing boundary");
    }
  }
}

const MultipartPart* FindPart(const std::vector<MultipartPart>& parts, std::string_view name) {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace stoa::gateway
