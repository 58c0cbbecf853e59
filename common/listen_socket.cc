#include "common/listen_socket.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace stoa::common {

absl::Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, const HostPort& address) {
  namespace asio = boost::asio;
  using tcp = asio::ip::tcp;
  const std::string printed = FormatHostPort(address);
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address ip = asio::ip::make_address(address.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, address.port);
  } else {
    tcp::resolver resolver(acceptor.get_executor());
    auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot resolve listen address ", printed,
                                                     ": ", ec ? ec.message() : "no results"));
    }
    endpoint = results.begin()->endpoint();
  }
  auto fail = [&](const char* step) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", printed, ": ", step, ": ", ec.message()));
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  return absl::OkStatus();
}

}  // namespace stoa::common
