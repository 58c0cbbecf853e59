#include "common/http_types.h"

#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"

namespace stoa::common {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as a space when `plus_is_space`). The error
// names `what` so the client learns which part of the URL is malformed.
absl::Status PercentDecode(std::string_view in, bool plus_is_space, const char* what,
                           std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      const bool complete = i + 2 < in.size();
      const int hi = complete ? HexValue(in[i + 1]) : -1;
      const int lo = complete ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(absl::StrCat("malformed percent-encoding in ", what,
                                                       " at offset ", i, ": '",
                                                       std::string(in.substr(i, 3)), "'"));
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') {
      return absl::InvalidArgumentError(absl::StrCat("NUL byte in ", what));
    }
    out->push_back(c);
  }
  return absl::OkStatus();
}

}  // namespace

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

absl::Status ParseTarget(const std::string& target, HttpRequest* request) {
  request->path.clear();
  request->query.clear();
  std::string_view rest(target);
  if (rest == "*") {
    request->path.assign(1, '*');
    return absl::OkStatus();
  }
  // Absolute-form (sent to proxies, legal for origin servers too): drop the
  // scheme and authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (rest.size() >= scheme.size() && rest.substr(0, scheme.size()) == scheme) {
      rest.remove_prefix(scheme.size());
      size_t slash = rest.find_first_of("/?");
      if (slash == std::string_view::npos) {
        rest = "/";
      } else {
        rest.remove_prefix(slash);
        if (rest.front() == '?') {
          request->path.assign(1, '/');
        }
      }
      break;
    }
  }
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t qmark = rest.find('?');
  std::string_view raw_path = rest.substr(0, qmark);
  std::string_view raw_query =
      qmark == std::string_view::npos ? std::string_view() : rest.substr(qmark + 1);
  if (!raw_path.empty()) {
    if (raw_path.front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("request target '", target, "' does not start with '/'"));
    }
    absl::Status st = PercentDecode(raw_path, /*plus_is_space=*/false, "path", &request->path);
    if (!st.ok()) return st;
  } else if (request->path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request target '", target, "' has an empty path"));
  }
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    absl::Status st = PercentDecode(pair.substr(0, eq), true, "query", &key);
    if (!st.ok()) return st;
    if (eq != std::string_view::npos) {
      st = PercentDecode(pair.substr(eq + 1), true, "query", &value);
      if (!st.ok()) return st;
    }
    request->query.emplace(std::move(key), std::move(value));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestHead(std::string_view head) {
  int line = 0;
  int transfer_encodings = 0;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    const std::string_view text = head.substr(pos, eol - pos);
    if (line > 0 && !text.empty() && (text[0] == ' ' || text[0] == '\t')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "malformed HTTP request: header line ", line,
          " is folded (obs-fold: it starts with a space or tab); send each header on one line"));
    }
    constexpr std::string_view kName = "transfer-encoding:";
    if (line > 0 && text.size() >= kName.size() &&
        absl::EqualsIgnoreCase(absl::string_view(text.data(), kName.size()),
                               absl::string_view(kName.data(), kName.size()))) {
      const absl::string_view value = absl::StripAsciiWhitespace(
          absl::string_view(text.data() + kName.size(), text.size() - kName.size()));
      if (++transfer_encodings > 1 || !absl::EqualsIgnoreCase(value, "chunked")) {
        return absl::UnimplementedError(
            absl::StrCat("Transfer-Encoding '", EchoLimited(std::string(value)),
                         "' is not supported: a request body is sent as is (Content-Length) or "
                         "with exactly one Transfer-Encoding: chunked"));
      }
    }
    if (!text.empty() || line == 0) ++line;
    pos = eol + 2;
  }
  return absl::OkStatus();
}

}  // namespace stoa::common
