// A blocking HTTP/1.1 client for one server (Boost.Beast), shared by the
// `stoa` CLI and `stoa-loadgen`.
//
// HttpUrl::Parse accepts "http://HOST:PORT[/prefix]", "https://HOST:PORT[/prefix]"
// or "HOST:PORT" (HOST may be [v6], common/host_port.h); anything else
// (another scheme, no port, a bad port) is INVALID_ARGUMENT naming the URL.
//
// HttpConnection keeps one keep-alive connection and reconnects when the
// server closed it. Send/receive are bounded by the timeout (socket
// SO_RCVTIMEO/SO_SNDTIMEO). A transport failure (refused, reset, timeout) is
// UNAVAILABLE or DEADLINE_EXCEEDED; a server certificate that does not
// verify is FAILED_PRECONDITION saying why (unknown CA, name mismatch,
// expired); any HTTP status, including 4xx/5xx, is a successful
// HttpResponse. Not thread-safe: use one connection per thread.
//
// HTTPS (an https:// URL): TLS 1.2+, the server's certificate verified
// against TlsClientFiles::ca_file (--cacert, env STOA_CACERT) or, when that
// is empty, the system trust store, and its name checked against the URL's
// host (SNI sent for a DNS name); a client certificate (cert_file and
// key_file) is presented when given. The files are read once, by the
// constructor: status() reports a bad file, and every Request returns that
// error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tls_context.h"

namespace stoa::tools {

struct HttpUrl {
  std::string host;  // IPv6 without brackets
  uint16_t port = 0;
  std::string prefix;  // path prefix without a trailing slash, often ""
  bool tls = false;    // https://
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
  // `tls` is used for https:// URLs only.
  HttpConnection(HttpUrl url, int timeout_ms, common::TlsClientFiles tls = {});
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // `target` is appended to the URL's prefix ("/v1/functions").
  absl::StatusOr<HttpResponse> Request(const std::string& method, const std::string& target,
                                       const std::string& body = "",
                                       const std::string& content_type = "application/json");

  // OK, or why no request can be sent (a TLS file that does not load).
  absl::Status status() const;
  // Sends `name: value` with every request from now on, replacing a header
  // of that name set before (e.g. "Authorization", "Bearer <token>"); an
  // empty value removes it. Names and values with CR or LF are ignored.
  void SetHeader(const std::string& name, const std::string& value);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::tools
