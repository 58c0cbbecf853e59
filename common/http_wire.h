// What the server's sessions (basic_http_session.h) share that does not
// depend on the stream type: limits, and the response builders. Internal to
// the HTTP server.
//
// Thread safety: constants and pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/http_server.h"
#include "common/http_types.h"

namespace stoa::common::detail {

namespace beast = boost::beast;
namespace http = beast::http;

// Large enough for long query strings and many headers; a request beyond it
// is answered 431.
inline constexpr uint32_t kHeaderLimit = 64 * 1024;
// How long a connection closed after an error keeps draining what the client
// still sends, so the error response is not destroyed by a TCP reset; also
// the bound of a TLS close_notify exchange.
inline constexpr int kLingerMs = 1000;
// How much the first read of a request asks for.
inline constexpr size_t kReadChunk = 4096;
// While a TLS client has unread bytes (a pipelined request, an alert) and a
// handler works, its connection is checked for a close this often.
inline constexpr std::chrono::milliseconds kTlsWatchEvery(50);

// How much of an upload (HttpServer::Options::upload_limit) one read takes.
inline constexpr size_t kUploadChunk = 64 * 1024;

std::string ToLower(beast::string_view s);

// The method, target and headers (names lower-cased) of a parsed request.
template <class Message>
HttpRequest RequestHead(const Message& msg) {
  HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  for (const auto& field : msg) {
    request.headers.emplace(ToLower(field.name_string()), std::string(field.value()));
  }
  return request;
}
// The upload limit for the request whose raw head starts `head` (its
// request line: method, target): options.upload_limit(method, path), 0 when
// the route is no upload route or the server has none.
uint64_t UploadLimit(const HttpServer::Options& options, std::string_view head);
// The answer to a request whose read failed with `ec`: 413 (over the body
// or upload limit), 431 (head too large) or 400 (malformed), with the
// error; nullopt when the client went away or idled out (no answer).
std::optional<std::pair<int, absl::Status>> ReadErrorAnswer(beast::error_code ec,
                                                            uint64_t upload_limit,
                                                            const HttpServer::Options& options);
// A response of `status` whose body is the JSON error of `error`.
HttpResponse ErrorResponse(int status, const absl::Status& error);
// The response for `in` (status checked, headers filtered, HEAD handled).
void BuildResponse(HttpResponse in, unsigned version, bool keep_alive, bool head,
                   const std::string& server_name, http::response<http::string_body>& out);
// The whole plaintext answer to a plaintext request on the TLS port:
// 400, the JSON error, "Connection: close". `received` (the request's first
// bytes) supplies the Host for the hint.
std::string PlaintextOnTlsResponse(std::string_view received, const std::string& server_name);

}  // namespace stoa::common::detail
