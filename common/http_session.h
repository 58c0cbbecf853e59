// HttpSession: one connection of the HttpServer (common/http_server.h), and
// HttpServerShared, what the server shares with its connections. Internal to
// the server: include http_server.h, not this.
//
// A session reads requests (keep-alive, pipelining, 100-continue, the
// header and body limits, the idle and header timeouts), hands each to the
// server's handler and writes the answers in order; a malformed request gets
// 400/413/431 and the connection closes after lingering for the client's
// remaining bytes.
//
// With HttpServer::Options::tls, a session first tells TLS from plaintext
// (the first byte of a TLS record), answers plaintext with a plaintext 400
// ("this port serves HTTPS") and closes, or completes the handshake within
// the header timeout, then serves requests exactly as over TCP and ends
// with a TLS close_notify (bounded). The session is one template over the
// stream type (basic_http_session.h).
//
// Thread safety: every member of a session is touched only on its strand,
// except that the server closes the socket after its I/O threads joined.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/http_server.h"

namespace stoa::common {

class HttpSession;

// Shared between the server and every responder it hands out: a responder
// called after Stop must not touch the (possibly destroyed) io_context.
struct Lifeline {
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
};

struct HttpServerShared {
  HttpServerShared(const HttpServer::Options& server_options, HttpHandler& server_handler,
                   std::function<void(HttpSession*)> on_closed)
      : options(server_options), handler(server_handler), forget(std::move(on_closed)) {}

  const HttpServer::Options& options;
  HttpHandler& handler;
  const std::shared_ptr<Lifeline> lifeline = std::make_shared<Lifeline>();
  std::atomic<bool> draining{false};
  std::atomic<int64_t> requests_in_flight{0};
  std::atomic<uint64_t> tls_handshake_failures{0};
  // Counts a failed TLS handshake (or plaintext on the TLS port) and logs
  // it, at most once a second. `why` must carry no secret material.
  void NoteTlsFailure(const std::string& client, const std::string& why);
  // Called by a session once its connection is closed.
  const std::function<void(HttpSession*)> forget;

 private:
  absl::Mutex tls_warn_mu_;
  std::chrono::steady_clock::time_point last_tls_warning_ ABSL_GUARDED_BY(tls_warn_mu_);
  uint64_t tls_failures_unlogged_ ABSL_GUARDED_BY(tls_warn_mu_) = 0;
};

class HttpSession {
 public:
  virtual ~HttpSession() = default;
  // The peer's IP address ("" when unknown).
  virtual const std::string& client() const = 0;
  // Starts reading requests.
  virtual void Start() = 0;
  // The server drains: a connection waiting for its next request closes
  // now; one in the middle of a request closes after answering it.
  virtual void Drain() = 0;
  // Fires the cancel signal of the request in progress (HttpRequest::cancel),
  // if one is; from any thread.
  virtual void CancelRequest() = 0;
  // Only from the server's Stop, with no I/O thread running, or before Start.
  virtual void CloseNow() = 0;
};

// A connection's socket, bound to its own strand. The concrete executor
// type (not asio::any_io_executor) spares every I/O step the type-erased
// executor's copies; it pays most on TLS, where each request passes the
// SSL and flat-stream layers.
using HttpSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                     boost::asio::strand<boost::asio::io_context::executor_type>>;

// A plaintext session, or a TLS one on the server's current TLS context
// when HttpServer::Options::tls is set.
std::shared_ptr<HttpSession> MakeHttpSession(HttpSocket socket, HttpServerShared& server,
                                             std::string client);

}  // namespace stoa::common
