#include "deploy/testbed/listen_socket.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "deploy/testbed/host_port.h"

namespace stoa::deploy {

absl::Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, const std::string& what,
                      const std::string& address) {
  using tcp = boost::asio::ip::tcp;
  std::string host;
  uint16_t port = 0;
  if (auto s = SplitHostPort(what, address, host, port); !s.ok()) return s;
  boost::system::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot resolve '", address, "': ", ec.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(what, ": cannot listen on ", address, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace stoa::deploy
