// Builders for hand-encoded Wasm module bytes in tests: the LEB128 integers
// and sections of the binary format, for modules no compiler would emit
// (bombs that declare millions of locals or functions).
#pragma once

#include <cstdint>
#include <string>

namespace stoa::functions::testing {

// Unsigned LEB128.
inline std::string Leb(uint64_t n) {
  std::string out;
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(n != 0 ? b | 0x80 : b));
  } while (n != 0);
  return out;
}

// A section: its id, its size and the payload.
inline std::string Section(uint8_t id, const std::string& payload) {
  return std::string(1, static_cast<char>(id)) + Leb(payload.size()) + payload;
}

}  // namespace stoa::functions::testing
