// ControlServer: the HTTP/1.1 control endpoint of stoa-linkem.
//   GET /link  -> 200 {"delay_ms","jitter_ms","rate_mbit","loss"}
//   PUT /link  with a JSON object holding any of those fields -> the new
//              parameters are applied to both directions at once and
//              returned (200); a bad body is a 400
//              {"error":{"code":"INVALID_ARGUMENT","message":"<field>: ..."}}
//              and changes nothing.
// Other paths are 404, other methods 405.
//
// Threading: runs on the given io_context; the shapers lock. Ownership: the
// caller keeps io_context and shapers alive longer than the server.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "deploy/testbed/link_shaper.h"

namespace stoa::deploy {

// A response, independent of the transport (so it can be tested directly).
struct ControlResponse {
  int status = 200;
  std::string body;  // JSON
};

// Handles one request to the control endpoint (see the file comment).
ControlResponse HandleControlRequest(const std::string& method, const std::string& target,
                                     const std::string& body, int64_t now_us,
                                     LinkShaper& to_upstream, LinkShaper& to_client);

class ControlServer {
 public:
  // Binds HOST:PORT (port 0 picks one); InvalidArgument for a bad address,
  // Unavailable when it cannot listen.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Create(boost::asio::io_context& io,
                                                               const std::string& listen,
                                                               LinkShaper& to_upstream,
                                                               LinkShaper& to_client);
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void Start();
  std::string address() const;

 private:
  ControlServer(boost::asio::io_context& io, LinkShaper& to_upstream, LinkShaper& to_client);

  boost::asio::io_context& io_;
  LinkShaper& to_upstream_;
  LinkShaper& to_client_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace stoa::deploy
