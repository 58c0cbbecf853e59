#include "deploy/testbed/control_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/use_awaitable.hpp"
// Beast 1.74's parser trips GCC 12's -Wmaybe-uninitialized (a false
// positive on boost::optional) when built with -fsanitize (the asan preset).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#pragma GCC diagnostic pop
#include "deploy/testbed/listen_socket.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace stoa::deploy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

std::string ErrorJson(const std::string& code, const std::string& message) {
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

awaitable<void> Serve(tcp::socket socket, LinkShaper& to_upstream, LinkShaper& to_client) {
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(socket, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    const auto& request = parser.get();
    ControlResponse handled =
        HandleControlRequest(std::string(request.method_string()), std::string(request.target()),
                             request.body(), NowMicros(), to_upstream, to_client);
    http::response<http::string_body> response(static_cast<http::status>(handled.status),
                                               request.version());
    response.set(http::field::server, "stoa-linkem");
    response.set(http::field::content_type, "application/json");
    if (handled.status == 405) response.set(http::field::allow, "GET, PUT");
    response.keep_alive(request.keep_alive());
    response.body() = std::move(handled.body);
    response.prepare_payload();
    co_await http::async_write(socket, response, asio::redirect_error(use_awaitable, ec));
    if (ec || !response.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

ControlResponse HandleControlRequest(const std::string& method, const std::string& target,
                                     const std::string& body, int64_t now_us,
                                     LinkShaper& to_upstream, LinkShaper& to_client) {
  const std::string path = target.substr(0, target.find('?'));
  if (path != "/link") {
    return {404, ErrorJson("NOT_FOUND", absl::StrCat("no route ", path, " (use /link)"))};
  }
  if (method == "GET") return {200, LinkParamsToJson(to_upstream.params())};
  if (method != "PUT") {
    return {405, ErrorJson("METHOD_NOT_ALLOWED", absl::StrCat(method, " /link: use GET or PUT"))};
  }
  absl::StatusOr<LinkParams> next = ApplyLinkJson(to_upstream.params(), body);
  if (!next.ok()) return {400, ErrorJson("INVALID_ARGUMENT", std::string(next.status().message()))};
  to_upstream.Set(now_us, *next);
  to_client.Set(now_us, *next);
  spdlog::info("link changed: {}", LinkParamsToJson(*next));
  return {200, LinkParamsToJson(*next)};
}

ControlServer::ControlServer(asio::io_context& io, LinkShaper& to_upstream, LinkShaper& to_client)
    : io_(io), to_upstream_(to_upstream), to_client_(to_client), acceptor_(io) {}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(asio::io_context& io,
                                                                     const std::string& listen,
                                                                     LinkShaper& to_upstream,
                                                                     LinkShaper& to_client) {
  std::unique_ptr<ControlServer> server(new ControlServer(io, to_upstream, to_client));
  if (auto s = ListenOn(server->acceptor_, "--control", listen); !s.ok()) return s;
  return server;
}

void ControlServer::Start() {
  asio::co_spawn(
      io_,
      [this]() -> awaitable<void> {
        for (;;) {
          boost::system::error_code ec;
          tcp::socket socket =
              co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
          if (ec == asio::error::operation_aborted) co_return;
          if (ec) continue;
          asio::co_spawn(io_, Serve(std::move(socket), to_upstream_, to_client_), asio::detached);
        }
      },
      asio::detached);
}

std::string ControlServer::address() const {
  const tcp::endpoint endpoint = acceptor_.local_endpoint();
  const std::string host = endpoint.address().to_string();
  return endpoint.address().is_v6() ? absl::StrCat("[", host, "]:", endpoint.port())
                                    : absl::StrCat(host, ":", endpoint.port());
}

}  // namespace stoa::deploy
