// Oracles of the fuzz targets: a failed one aborts with its message, which
// libFuzzer reports as a crash and the regression driver as a failed test.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace stoa::fuzz {

inline void Require(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz oracle failed: %s\n", what.c_str());
  std::abort();
}

// Strict mode (the default): a JSON document that is not valid JSON (invalid
// UTF-8 included) or an exception leaving a handler is a finding (issue 10,
// Required 1). STOA_FUZZ_CHECK_JSON=0 turns it off, to fuzz past a known
// JSON-writer bug.
inline bool StrictJson() {
  static const bool strict = [] {
    const char* v = std::getenv("STOA_FUZZ_CHECK_JSON");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return strict;
}

}  // namespace stoa::fuzz
