#include "deploy/testbed/host_port.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stoa::deploy {

absl::Status SplitHostPort(const std::string& what, const std::string& address, std::string& host,
                           uint16_t& port) {
  const size_t colon = address.rfind(':');
  uint32_t p = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &p) || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected HOST:PORT, got '", address, "'"));
  }
  host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

}  // namespace stoa::deploy
