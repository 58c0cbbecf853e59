// Opening a listening TCP acceptor on a HostPort: the one resolve, open,
// SO_REUSEADDR, bind and listen shared by the HTTP server (http_server.h)
// and stoa-linkem's data port (deploy/testbed/link_proxy.h).
//
// Thread safety: as the acceptor's (one thread at a time).
#pragma once

#include "absl/status/status.h"
#include "boost/asio/ip/tcp.hpp"
#include "common/host_port.h"

namespace stoa::common {

// Opens `acceptor` listening on `address` (a numeric host is used as is, a
// name is resolved, the first result wins; port 0 picks a free port).
// INVALID_ARGUMENT when the host does not resolve; UNAVAILABLE when it
// cannot listen (port taken, no permission), naming the address and the
// step that failed: "cannot listen on 127.0.0.1:80: bind: Permission
// denied". On error the acceptor is closed. Callers prefix the flag.
absl::Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, const HostPort& address);

}  // namespace stoa::common
