// SHA-256 of a byte string, as 64 lowercase hex characters (OpenSSL).
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace stoa::common {

std::string Sha256Hex(std::string_view bytes);

}  // namespace stoa::common
