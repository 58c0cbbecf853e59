// CHECK for broken invariants (STYLE.md rule 4): an impossible state aborts
// with the condition and location. Bad input must never reach a CHECK; it
// returns a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define STOA_CHECK(cond, msg)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s: %s\n", __FILE__, __LINE__, #cond, msg); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
