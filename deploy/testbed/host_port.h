// "HOST:PORT" (HOST may be [v6]) -> host and port. Pure.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace stoa::deploy {

// InvalidArgument naming `what` (e.g. "--listen") when it is not HOST:PORT.
absl::Status SplitHostPort(const std::string& what, const std::string& address, std::string& host,
                           uint16_t& port);

}  // namespace stoa::deploy
