#include "deploy/testbed/control_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/http_status.h"
#include "common/json_text.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace stoa::deploy {
namespace {

common::HttpResponse Json(int status, std::string body) {
  common::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

common::HttpResponse Error(int status, const std::string& code, const std::string& message) {
  return Json(status, common::ErrorJson(code, message));
}

// `status` with the flag it is about in front: "--control: ...".
absl::Status ControlFlag(const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("--control: ", status.message()));
}

}  // namespace

common::HttpResponse HandleControlRequest(const common::HttpRequest& request, int64_t now_us,
                                          LinkShaper& to_upstream, LinkShaper& to_client) {
  if (request.path != "/link") {
    return Error(404, "NOT_FOUND", absl::StrCat("no route ", request.path, " (use /link)"));
  }
  if (request.method == "GET") return Json(200, LinkParamsToJson(to_upstream.params()));
  if (request.method != "PUT") {
    common::HttpResponse response =
        Error(405, "METHOD_NOT_ALLOWED", absl::StrCat(request.method, " /link: use GET or PUT"));
    response.headers.emplace_back("Allow", "GET, PUT");
    return response;
  }
  absl::StatusOr<LinkParams> next = ApplyLinkJson(to_upstream.params(), request.body);
  if (!next.ok()) return Error(400, "INVALID_ARGUMENT", std::string(next.status().message()));
  to_upstream.Set(now_us, *next);
  to_client.Set(now_us, *next);
  spdlog::info("link changed: {}", LinkParamsToJson(*next));
  return Json(200, LinkParamsToJson(*next));
}

ControlServer::ControlServer(LinkShaper& to_upstream, LinkShaper& to_client,
                             const common::Clock& clock)
    : to_upstream_(to_upstream), to_client_(to_client), clock_(clock) {}

ControlServer::~ControlServer() { server_->Stop(); }

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& listen,
                                                                    LinkShaper& to_upstream,
                                                                    LinkShaper& to_client,
                                                                    const common::Clock& clock) {
  absl::StatusOr<common::HostPort> address = common::ParseHostPort(listen);
  if (!address.ok()) return ControlFlag(address.status());
  common::HttpServer::Options options;
  options.host = address->host;
  options.port = address->port;
  options.threads = 1;
  options.body_limit = 64 * 1024;
  options.server_name = "stoa-linkem";
  std::unique_ptr<ControlServer> control(new ControlServer(to_upstream, to_client, clock));
  control->server_ = std::make_unique<common::HttpServer>(options, *control);
  if (absl::StatusOr<uint16_t> port = control->server_->Start(); !port.ok()) {
    return ControlFlag(port.status());
  }
  return control;
}

void ControlServer::Handle(common::HttpRequest request, common::HttpResponder respond) {
  respond(HandleControlRequest(request, clock_.NowMicros(), to_upstream_, to_client_));
}

}  // namespace stoa::deploy
