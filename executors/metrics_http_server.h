// The HTTP endpoint of `stoa-executor --metrics-listen`: GET /metrics
// returns the Prometheus text exposition, GET /healthz returns "ok". Any
// other path is a 404, any other method a 405 (HEAD is a GET without the
// body). It is a handler on common::HttpServer (keep-alive, limits): one I/O
// thread of its own, separate from the gRPC server, so a scrape never
// competes with invocations for a worker; an idle connection is closed
// after 10 s.
//
// Thread safety: `render` is called on the server's thread and must be
// thread-safe (common::metrics::Registry::Serialize is).
// Lifetime: the destructor stops the thread and closes every connection.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "common/http_types.h"

namespace stoa::executors {

class MetricsHttpServer final : public common::HttpHandler {
 public:
  // Listens on "host:port" (port 0 picks a free port). INVALID_ARGUMENT for a
  // malformed or unresolvable address, UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::function<std::string()> render);

  ~MetricsHttpServer() override;
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound "ip:port".
  std::string address() const { return server_->address(); }
  int port() const { return port_; }

  // Answers one request (see the file comment); synchronous.
  void Handle(common::HttpRequest request, common::HttpResponder respond) override;

 private:
  explicit MetricsHttpServer(std::function<std::string()> render);

  const std::function<std::string()> render_;
  std::unique_ptr<common::HttpServer> server_;
  int port_ = 0;
};

}  // namespace stoa::executors
