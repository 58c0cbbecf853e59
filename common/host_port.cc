#include "common/host_port.h"

#include <arpa/inet.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace stoa::common {
namespace {

absl::Status Invalid(std::string_view address, const char* why) {
  return absl::InvalidArgumentError(
      absl::StrCat("expected HOST:PORT, got '", std::string(address), "' (", why, ")"));
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  std::string_view host;
  std::string_view port_text;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return Invalid(address, "unclosed '['");
    host = address.substr(1, close - 1);
    std::string_view rest = address.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Invalid(address, "no port after ']'");
    port_text = rest.substr(1);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return Invalid(address, "no port");
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Invalid(address, "an IPv6 host needs brackets, e.g. [::1]:8080");
    }
  }
  if (host.empty()) return Invalid(address, "empty host");
  if (port_text.empty() || port_text.size() > 5) return Invalid(address, "port not in 0..65535");
  uint32_t port = 0;
  for (char c : port_text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return Invalid(address, "port not in 0..65535");
    }
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return Invalid(address, "port not in 0..65535");
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

std::string FormatHostPort(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string out = v6 ? "[" : "";
  out.append(host);
  out.append(v6 ? "]:" : ":");
  out.append(std::to_string(port));
  return out;
}

bool IsLoopbackListen(std::string_view listen) {
  if (listen.starts_with("unix:")) return true;
  absl::StatusOr<HostPort> address = ParseHostPort(listen);
  if (!address.ok()) return false;
  const std::string host = absl::AsciiStrToLower(address->host);
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

}  // namespace stoa::common
