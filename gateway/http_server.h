// An asynchronous HTTP/1.1 server on Boost.Beast/Asio.
//
// - Keep-alive; requests on one connection are answered in order, one at a
//   time (a pipelined request is read only after the previous response is
//   written), so pipelining is safe.
// - A body larger than Options::body_limit is answered 413 with the JSON
//   error body and the connection is closed; a malformed request gets 400.
// - A connection idle (or stalled mid-request) longer than
//   Options::idle_timeout_ms is closed.
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
#include "gateway/http_types.h"

namespace stoa::gateway {

class HttpServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";
    uint16_t port = 8080;  // 0: any free port
    int threads = 2;
    uint64_t body_limit = 16 * 1024 * 1024;
    int idle_timeout_ms = 30000;
  };

  HttpServer(Options options, HttpHandler& handler);
  ~HttpServer();  // stops if running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on background threads; returns the bound port.
  // UNAVAILABLE naming the address when it cannot bind.
  absl::StatusOr<uint16_t> Start();
  // Stops accepting, closes connections and joins the threads.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::gateway
