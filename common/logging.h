// Logging is spdlog; this sets it up uniformly for every binary.
// Log lines go to stderr so that stdout stays free for the bound address
// that binaries print on their first line.
#pragma once

#include <string_view>

#include "spdlog/spdlog.h"

namespace stoa::common {

// level: trace|debug|info|warn|error|off. Unknown values mean info.
void InitLogging(std::string_view program, std::string_view level);

}  // namespace stoa::common
