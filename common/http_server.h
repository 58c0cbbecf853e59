// The one HTTP/1.1 server of Stoa, on Boost.Beast/Asio: the gateway's REST
// API, the executor's /metrics and stoa-linkem's control endpoint are
// HttpHandlers served by it.
//
// - Keep-alive; requests on one connection are answered in order, one at a
//   time (a pipelined request is read only after the previous response is
//   written), so pipelining is safe.
// - A body larger than Options::body_limit is answered 413 with the JSON
//   error body and the connection is closed; a malformed request gets 400.
// - Timeouts: a connection waiting for a request (a new one, or keep-alive
//   between requests) longer than Options::idle_timeout_ms is closed; a
//   request's header must be complete within Options::header_timeout_ms of
//   the read starting (and within idle_timeout_ms), else the connection is
//   closed without an answer (slowloris); a body must arrive within
//   idle_timeout_ms. No timeout runs while the handler works.
// - Connection caps: past Options::max_connections open connections, or
//   Options::max_connections_per_client from one client IP address, a new
//   connection is accepted and closed at once, without reading or answering
//   it (the client sees EOF or a reset), so the accept loop never stalls and
//   a refused client costs no more than the accept. Refusals are counted in
//   Stats and logged at most once a second.
// - Accept errors (EMFILE, ENFILE, ENOBUFS, ...) back off exponentially,
//   10 ms doubling to 1 s (common/backoff.h), logged on the first failure and
//   then at most once a second, instead of spinning.
// - Cancellation: every request gets a fresh HttpRequest::cancel. While the
//   handler works on it, the server watches the connection: when the client
//   closes it (EOF or a reset) before the response is written, the signal
//   fires, so the handler's work (an invocation) is cancelled end to end.
//   Bytes of a pipelined request mean the client is still there: watching
//   stops. It stops too when the response is written. CancelInFlight fires
//   the signals of every request in progress (a shutdown whose grace period
//   is over).
// - Graceful stop: Drain stops accepting (the listening socket is closed, so
//   new connections are refused by the kernel), closes connections idle
//   between requests, answers the requests in progress with
//   "Connection: close" and waits for their connections to end.
// - An "Expect: 100-continue" request gets the interim 100 before its body
//   is read; HEAD announces the length without sending the body.
// - A target that does not parse (http_types.h ParseTarget) is answered 400
//   without calling the handler; a handler that throws is answered 500.
// - HTTPS (Options::tls, common/tls_context.h): every connection first
//   completes a TLS 1.2+ handshake, within header_timeout_ms, then behaves
//   exactly as above; HttpRequest::tls is set and HttpRequest::peer_names
//   holds the names of a client certificate the client CA verified. A
//   plaintext HTTP request on the port is answered with a plaintext 400
//   ("this port serves HTTPS: use https://HOST/") and the connection closed;
//   a failed handshake closes the connection. Both are counted
//   (Stats::tls_handshake_failures) and logged at most once a second. Over
//   TLS, the close is watched with poll(POLLRDHUP) (bytes waiting may be a
//   TLS record, not a request), and a connection ends with close_notify.
// - The handler may answer from any thread; the response is written on the
//   connection's strand.
//
// Thread safety: Start, Drain and Stop from one thread; stats(),
// CancelInFlight() and max_connections() from any. The handler is called concurrently from the
// server's I/O threads.
// Ownership: the handler must outlive the server.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_types.h"

namespace stoa::common {

class TlsServerContext;  // common/tls_context.h

class HttpServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";  // an IP address or a name; IPv6 without brackets
    uint16_t port = 0;             // 0: any free port
    int threads = 2;
    uint64_t body_limit = 16 * 1024 * 1024;
    int idle_timeout_ms = 30000;
    int header_timeout_ms = 10000;
    // Open connections at most; 0: three quarters of RLIMIT_NOFILE's soft
    // limit (at least 64, at most 10000), so the cap bites before the
    // process runs out of file descriptors.
    int max_connections = 0;
    // Open connections from one client IP address at most; 0: no cap.
    int max_connections_per_client = 256;
    std::string server_name = "stoa";  // the Server header of every response
    // HTTPS: null serves plaintext HTTP. Each new connection takes the
    // context's current() certificate (TlsServerContext::Reload swaps it).
    std::shared_ptr<TlsServerContext> tls;
    // Upload routes: when upload_limit(method, path) (path as sent, before
    // percent-decoding, without the query) returns N > 0, the request's
    // body is written to a new file in upload_dir as it arrives
    // (HttpRequest::upload, common/upload_spool.h) instead of memory, up to
    // N bytes (more: 413 naming the upload limit), each chunk within
    // idle_timeout_ms. 0, or no function: the body is read into
    // HttpRequest::body under body_limit. Called on I/O threads.
    std::function<uint64_t(std::string_view method, std::string_view path)> upload_limit;
    std::string upload_dir;                              // must exist when upload_limit is set
    std::string upload_limit_name = "the upload limit";  // named in the 413
  };

  HttpServer(Options options, HttpHandler& handler);
  ~HttpServer();  // stops if running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on background threads; returns the bound port.
  // INVALID_ARGUMENT when the host does not resolve, UNAVAILABLE when it
  // cannot listen, both naming the address (listen_socket.h); a second
  // Start is FAILED_PRECONDITION.
  absl::StatusOr<uint16_t> Start();
  // The bound "ip:port" ("[ip]:port" for IPv6) once started, else "".
  std::string address() const;
  // Stops accepting, closes connections and joins the threads.
  void Stop();

  // Graceful stop, from the thread that called Start (see above). Returns
  // the connections still open when `timeout_ms` passed (0: all ended);
  // Stop closes those. Idempotent; no effect before Start.
  size_t Drain(int timeout_ms);
  // Fires HttpRequest::cancel of every request a handler still works on
  // (their answers are still written); returns how many connections were
  // open. From any thread; no effect before Start.
  size_t CancelInFlight();

  struct Stats {
    size_t connections = 0;            // open now
    size_t requests_in_flight = 0;     // handed to the handler, response not yet written
    uint64_t refused_connections = 0;  // over a cap, or accepted while draining
    uint64_t accept_errors = 0;
    // With Options::tls: connections closed because the handshake failed
    // (a client certificate that did not verify, no common protocol, a
    // timeout) or because they spoke plaintext HTTP (answered 400).
    uint64_t tls_handshake_failures = 0;
  };
  Stats stats() const;
  // The connection cap in force (Options::max_connections, resolved).
  int max_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::common
