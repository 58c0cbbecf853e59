// A tiny HTTP/1.1 server for `stoa-executor --metrics-listen`: GET /metrics
// returns the Prometheus text exposition, GET /healthz returns "ok". Any
// other path is a 404, any other method a 405. Keep-alive is honoured; an
// idle or slow connection is closed after 10 s.
//
// It runs on one thread of its own (Boost.Asio, asynchronous accept and
// I/O), separate from the gRPC server, so a scrape never competes with
// invocations for a worker.
//
// Thread safety: `render` is called on the server's thread and must be
// thread-safe (common::metrics::Registry::Serialize is).
// Lifetime: the destructor stops the thread and closes every connection.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace stoa::executors {

class MetricsHttpServer {
 public:
  // Listens on "host:port" (port 0 picks a free port). INVALID_ARGUMENT for a
  // malformed address, UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::function<std::string()> render);

  virtual ~MetricsHttpServer() = default;
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // "host:port" with the bound port.
  virtual std::string address() const = 0;
  virtual int port() const = 0;

 protected:
  MetricsHttpServer() = default;
};

}  // namespace stoa::executors
