// A blocking HTTP/1.1 client for one server (Boost.Beast), shared by the
// `stoa` CLI and `stoa-loadgen`.
//
// HttpUrl::Parse accepts "http://HOST:PORT[/prefix]" or "HOST:PORT" (HOST may be
// [v6], common/host_port.h); anything else (https, no port, a bad port) is INVALID_ARGUMENT naming
// the URL.
//
// HttpConnection keeps one keep-alive TCP connection and reconnects when the
// server closed it. Send/receive are bounded by the timeout (socket
// SO_RCVTIMEO/SO_SNDTIMEO). A transport failure (refused, reset, timeout) is
// UNAVAILABLE or DEADLINE_EXCEEDED; any HTTP status, including 4xx/5xx, is a
// successful HttpResponse. Not thread-safe: use one connection per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace stoa::tools {

struct HttpUrl {
  std::string host;  // IPv6 without brackets
  uint16_t port = 0;
  std::string prefix;  // path prefix without a trailing slash, often ""
  static absl::StatusOr<HttpUrl> Parse(const std::string& url);
  // "host:port" ("[v6]:port"), also the Host header.
  std::string HostPort() const;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  // The header's value, or "" when absent.
  std::string Header(const std::string& lower_name) const;
};

class HttpConnection {
 public:
  HttpConnection(HttpUrl url, int timeout_ms);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // `target` is appended to the URL's prefix ("/v1/functions").
  absl::StatusOr<HttpResponse> Request(const std::string& method, const std::string& target,
                                       const std::string& body = "",
                                       const std::string& content_type = "application/json");

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::tools
