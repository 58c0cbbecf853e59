// The one HTTP/1.1 server of Stoa, on Boost.Beast/Asio: the gateway's REST
// API, the executor's /metrics and stoa-linkem's control endpoint are
// HttpHandlers served by it.
//
// - Keep-alive; requests on one connection are answered in order, one at a
//   time (a pipelined request is read only after the previous response is
//   written), so pipelining is safe.
// - A body larger than Options::body_limit is answered 413 with the JSON
//   error body and the connection is closed; a malformed request gets 400.
// - A connection idle (or stalled mid-request) longer than
//   Options::idle_timeout_ms is closed.
// - An "Expect: 100-continue" request gets the interim 100 before its body
//   is read; HEAD announces the length without sending the body.
// - A target that does not parse (http_types.h ParseTarget) is answered 400
//   without calling the handler; a handler that throws is answered 500.
// - The handler may answer from any thread; the response is written on the
//   connection's strand.
//
// Thread safety: Start/Stop from one thread. The handler is called
// concurrently from the server's I/O threads.
// Ownership: the handler must outlive the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_types.h"

namespace stoa::common {

class HttpServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";  // an IP address or a name; IPv6 without brackets
    uint16_t port = 0;             // 0: any free port
    int threads = 2;
    uint64_t body_limit = 16 * 1024 * 1024;
    int idle_timeout_ms = 30000;
    std::string server_name = "stoa";  // the Server header of every response
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

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::common
