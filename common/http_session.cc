#include "common/http_session.h"

#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/basic_http_session.h"
#include "common/http_wire.h"
#include "common/tls_context.h"
#include "spdlog/spdlog.h"

namespace stoa::common {
namespace detail {
namespace {

// Handlers may add headers, but not ones that would desynchronize the
// connection's framing, nor ones carrying CR/LF.
bool IsAllowedExtraHeader(const std::string& name, const std::string& value) {
  if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos) {
    return false;
  }
  for (const char* framing : {"content-length", "transfer-encoding", "connection"}) {
    if (beast::iequals(name, framing)) return false;
  }
  return true;
}

// The Host header among the first bytes of a plaintext request, if it is a
// plain host[:port]; "" otherwise (it is echoed in the answer).
std::string HostOf(std::string_view received) {
  const size_t head_end = received.find("\r\n\r\n");
  // Up to the CRLF that ends the last header line.
  const std::string_view head_bytes =
      received.substr(0, head_end == std::string_view::npos ? head_end : head_end + 2);
  const std::string head = ToLower(beast::string_view(head_bytes.data(), head_bytes.size()));
  const size_t at = head.find("\r\nhost:");
  if (at == std::string::npos) return "";
  size_t begin = at + 7;
  size_t end = head.find("\r\n", begin);
  if (end == std::string::npos) return "";
  while (begin < end && (head[begin] == ' ' || head[begin] == '\t')) ++begin;
  while (end > begin && (head[end - 1] == ' ' || head[end - 1] == '\t')) --end;
  const std::string_view host = received.substr(begin, end - begin);
  if (host.empty() || host.size() > 255) return "";
  for (char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']') {
      return "";
    }
  }
  return std::string(host);
}

}  // namespace

std::string ToLower(beast::string_view s) {
  std::string out(s.data(), s.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void BuildResponse(HttpResponse in, unsigned version, bool keep_alive, bool head,
                   const std::string& server_name, http::response<http::string_body>& out) {
  out = {};
  out.version(version);
  if (in.status < 100 || in.status > 999) {
    spdlog::error("handler returned invalid HTTP status {}", in.status);
    in.status = 500;
    in.body = common::ErrorJson(absl::InternalError("handler returned an invalid status"));
  }
  out.result(static_cast<unsigned>(in.status));
  out.set(http::field::server, server_name);
  const bool no_body = in.status < 200 || in.status == 204 || in.status == 304;
  if (!no_body && !in.content_type.empty()) out.set(http::field::content_type, in.content_type);
  for (const auto& [name, value] : in.headers) {
    if (!IsAllowedExtraHeader(name, value)) {
      spdlog::warn("dropping invalid response header '{}'", name);
      continue;
    }
    out.insert(name, value);
  }
  out.keep_alive(keep_alive);
  if (no_body) {
    out.content_length(boost::none);
  } else {
    // For HEAD the length is announced but no body is sent.
    out.content_length(in.body.size());
    if (!head) out.body() = std::move(in.body);
  }
}

std::optional<std::pair<int, absl::Status>> ReadErrorAnswer(beast::error_code ec,
                                                            uint64_t upload_limit,
                                                            const HttpServer::Options& options) {
  if (ec == http::error::body_limit) {
    return std::pair(
        413, absl::OutOfRangeError(
                 upload_limit > 0
                     ? absl::StrCat("upload exceeds ", upload_limit, " bytes (",
                                    options.upload_limit_name, ")")
                     : absl::StrCat("request body exceeds ", options.body_limit, " bytes")));
  }
  if (ec == http::error::header_limit) {
    return std::pair(431, absl::OutOfRangeError(
                              absl::StrCat("request header exceeds ", kHeaderLimit, " bytes")));
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec.category() != http::make_error_code(http::error::bad_method).category()) {
    return std::nullopt;
  }
  return std::pair(
      400, absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message())));
}

HttpResponse ErrorResponse(int status, const absl::Status& error) {
  HttpResponse response;
  response.status = status;
  response.body = common::ErrorJson(error);
  return response;
}

uint64_t UploadLimit(const HttpServer::Options& options, std::string_view head) {
  if (!options.upload_limit) return 0;
  const size_t method_end = head.find(' ');
  if (method_end == std::string_view::npos) return 0;
  const size_t target_end = head.find(' ', method_end + 1);
  if (target_end == std::string_view::npos) return 0;
  const std::string_view target = head.substr(method_end + 1, target_end - method_end - 1);
  return options.upload_limit(head.substr(0, method_end), target.substr(0, target.find('?')));
}

std::string PlaintextOnTlsResponse(std::string_view received, const std::string& server_name) {
  const std::string host = HostOf(received);
  const std::string body = common::ErrorJson(absl::InvalidArgumentError(
      absl::StrCat("this port serves HTTPS: use https://", host.empty() ? "..." : host + "/")));
  return absl::StrCat("HTTP/1.1 400 Bad Request\r\nServer: ", server_name,
                      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace detail

void HttpServerShared::NoteTlsFailure(const std::string& client, const std::string& why) {
  tls_handshake_failures.fetch_add(1);
  const auto now = std::chrono::steady_clock::now();
  absl::MutexLock lock(&tls_warn_mu_);
  ++tls_failures_unlogged_;
  if (last_tls_warning_ != std::chrono::steady_clock::time_point() &&
      now - last_tls_warning_ < std::chrono::seconds(1)) {
    return;
  }
  last_tls_warning_ = now;
  spdlog::warn("https: closed a connection from {}: {} ({} since the last warning)", client, why,
               tls_failures_unlogged_);
  tls_failures_unlogged_ = 0;
}

std::shared_ptr<HttpSession> MakeHttpSession(HttpSocket socket, HttpServerShared& server,
                                             std::string client) {
  if (server.options.tls) {
    return std::make_shared<detail::BasicHttpSession<detail::TlsStream>>(
        std::move(socket), server, std::move(client), server.options.tls->current());
  }
  return std::make_shared<detail::BasicHttpSession<detail::TcpStream>>(std::move(socket), server,
                                                                       std::move(client), nullptr);
}

}  // namespace stoa::common
