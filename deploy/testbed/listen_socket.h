// Opening a listening TCP acceptor on a "HOST:PORT" flag value, shared by
// stoa-linkem's data port (link_proxy.h) and control port
// (control_server.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "boost/asio/ip/tcp.hpp"

namespace stoa::deploy {

// Resolves `address` (the value of flag `what`, e.g. "--listen") and opens
// `acceptor` on it with SO_REUSEADDR. INVALID_ARGUMENT when it is not
// HOST:PORT or does not resolve, UNAVAILABLE when it cannot listen (port
// taken, no permission); both name the flag.
absl::Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, const std::string& what,
                      const std::string& address);

}  // namespace stoa::deploy
