// The one parser and printer of "HOST:PORT" network addresses, used by every
// --listen, --cloud, --control and URL authority in Stoa.
//
//   ParseHostPort("127.0.0.1:8080")  -> {"127.0.0.1", 8080}
//   ParseHostPort("[::1]:0")         -> {"::1", 0}   (brackets removed)
//   ParseHostPort("localhost:50051") -> {"localhost", 50051}
//
// An IPv6 host must be bracketed: "::1:80" is ambiguous and refused. The
// port is decimal digits only, 0..65535; port 0 is accepted (it asks for a
// free port when listening) and callers that need a real port check it.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace stoa::common {

struct HostPort {
  std::string host;  // no brackets, never empty
  uint16_t port = 0;

  bool operator==(const HostPort&) const = default;
};

// INVALID_ARGUMENT naming the address and what is wrong with it: no port,
// an empty host, an unclosed bracket, an unbracketed IPv6 host, or a port
// that is not a number in 0..65535. Callers prefix the flag ("--listen: ").
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);

// "host:port", or "[host]:port" when the host contains ':' (IPv6).
std::string FormatHostPort(std::string_view host, uint16_t port);
inline std::string FormatHostPort(const HostPort& address) {
  return FormatHostPort(address.host, address.port);
}

// Whether a listen address reaches only this machine: "unix:PATH", or a
// HOST:PORT whose host is "localhost", an IPv4 address in 127.0.0.0/8, ::1
// or ::ffff:127.x.y.z. Every other host (0.0.0.0, ::, an interface address,
// a host name that might resolve anywhere) and an unparsable address are
// not. The secure defaults use it: a non-loopback listen needs TLS (and/or
// auth) or --insecure.
bool IsLoopbackListen(std::string_view listen);

}  // namespace stoa::common
