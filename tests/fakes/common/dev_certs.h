// Development certificates for tests with real TLS: runs the project's own
// deploy/tls/make-dev-certs.sh (found through $STOA_SOURCE_DIR, which ctest
// sets) into a directory. Two directories made this way have two different
// CAs, so one set is "foreign" to the other.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace stoa::testing {

// $STOA_SOURCE_DIR/deploy/tls/make-dev-certs.sh DIR NAMES...; its output
// goes to DIR.log. True when the script succeeded.
inline bool WriteDevCerts(const std::string& dir, const std::vector<std::string>& names = {}) {
  const char* source = std::getenv("STOA_SOURCE_DIR");
  std::string command = "bash '" + std::string(source != nullptr ? source : ".") +
                        "/deploy/tls/make-dev-certs.sh' '" + dir + "'";
  for (const std::string& name : names) command += " '" + name + "'";
  command += " >'" + dir + ".log' 2>&1";
  return std::system(command.c_str()) == 0;
}

}  // namespace stoa::testing
