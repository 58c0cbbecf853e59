// Oracles of the fuzz targets: a failed one aborts with its message, which
// libFuzzer reports as a crash and the regression driver as a failed test.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace stoa::fuzz {

inline void Require(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz oracle failed: %s\n", what.c_str());
  std::abort();
}

}  // namespace stoa::fuzz
