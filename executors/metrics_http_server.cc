#include "executors/metrics_http_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace stoa::executors {
namespace {

common::HttpResponse Text(int status, std::string body) {
  common::HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(std::function<std::string()> render)
    : render_(std::move(render)) {}

MetricsHttpServer::~MetricsHttpServer() { server_->Stop(); }

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, std::function<std::string()> render) {
  absl::StatusOr<common::HostPort> address = common::ParseHostPort(listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: ", address.status().message()));
  }
  common::HttpServer::Options options;
  options.host = address->host;
  options.port = address->port;
  options.threads = 1;
  options.body_limit = 1024 * 1024;  // nothing here takes a body
  options.idle_timeout_ms = 10000;
  options.server_name = "stoa-executor";
  std::unique_ptr<MetricsHttpServer> metrics(new MetricsHttpServer(std::move(render)));
  metrics->server_ = std::make_unique<common::HttpServer>(options, *metrics);
  absl::StatusOr<uint16_t> port = metrics->server_->Start();
  if (!port.ok()) {
    return absl::Status(port.status().code(),
                        absl::StrCat("--metrics-listen: ", port.status().message()));
  }
  metrics->port_ = *port;
  return metrics;
}

void MetricsHttpServer::Handle(common::HttpRequest request, common::HttpResponder respond) {
  if (request.method != "GET" && request.method != "HEAD") {
    common::HttpResponse response = Text(405, "method not allowed\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return respond(std::move(response));
  }
  if (request.path == "/metrics") {
    common::HttpResponse response = Text(200, render_());
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return respond(std::move(response));
  }
  if (request.path == "/healthz") return respond(Text(200, "ok\n"));
  respond(Text(404, "not found\n"));
}

}  // namespace stoa::executors
