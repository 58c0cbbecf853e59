// Plain HTTP request/response values passed between the HTTP server
// (http_server.h) and its handlers (the gateway's REST API, the executor's
// /metrics, stoa-linkem's control endpoint), so a handler can be tested
// without sockets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/cancel_signal.h"

namespace stoa::common {

class SpooledBody;  // common/upload_spool.h

struct HttpRequest {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // as received: path + query
  std::string path;                               // percent-decoded path, no query
  std::multimap<std::string, std::string> query;  // decoded ?k=v pairs
  // Header names lower-cased.
  std::multimap<std::string, std::string> headers;
  std::string body;
  // The body of an upload route (HttpServer::Options::upload_limit), on
  // disk; `body` is empty then. Null for every other request.
  std::shared_ptr<SpooledBody> upload;
  // Fired by the HTTP server when the client closes its connection before
  // the response is written (never null when the request came from
  // HttpServer); a handler passes it on so the work is cancelled end to end.
  std::shared_ptr<CancelSignal> cancel;
  // The peer's IP address ("" when unknown), for logs and the audit trail.
  std::string client;
  // True when the request came over TLS (HttpServer::Options::tls).
  bool tls = false;
  // The names of the client's certificate when it presented one and the
  // server's client CA verified it (Options::tls with a client CA): the
  // subject's CN first, then the DNS, IP, URI and email subjectAltNames.
  // Empty otherwise.
  std::vector<std::string> peer_names;

  // First value of a header (name lower-case), "" if absent.
  std::string Header(const std::string& lower_name) const;
  // First value of a query parameter, "" if absent.
  std::string Query(const std::string& name) const;
};

// Splits a request target (origin-form "/p?q", absolute-form "http://h/p?q"
// or "*") into `request->path` (percent-decoded, '+' kept) and
// `request->query` (percent-decoded, '+' is a space, "k" alone maps to "").
// INVALID_ARGUMENT naming the part with a malformed escape, a NUL byte, or a
// target that is not a path.
absl::Status ParseTarget(const std::string& target, HttpRequest* request);

// Checks the raw head of a request (request line through the blank line,
// as received) for what Beast would accept but Stoa refuses:
//  - obs-fold, a header line starting with SP or HT (RFC 9112 § 5.2):
//    INVALID_ARGUMENT (400) "header line N is folded (obs-fold) …";
//  - a Transfer-Encoding other than exactly one "chunked" (e.g. "gzip,
//    chunked", "identity", two fields): UNIMPLEMENTED (501) naming it; the
//    server decodes no other coding, and must not pass coded bytes on as
//    the body.
// The TE header (the codings a client accepts in a response) is left
// alone: responses are never transfer-coded beyond chunked, which every
// client accepts.
absl::Status CheckRequestHead(std::string_view head);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Called exactly once per request, from any thread.
using HttpResponder = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must not block: long work completes later through `respond`.
  virtual void Handle(HttpRequest request, HttpResponder respond) = 0;
};

}  // namespace stoa::common
