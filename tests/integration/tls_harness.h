// TLS helpers for integration tests: development certificates from the
// repository's own script, and running a binary that is expected to refuse
// to start.
//
// Not thread-safe (each test calls them from its own thread).
#pragma once

#include <string>
#include <vector>

namespace stoa::testing {

// A directory written by deploy/tls/make-dev-certs.sh: ca.crt, ca.key,
// gateway.crt/.key, executor.crt/.key, device.crt/.key.
struct DevCerts {
  std::string dir;  // "" when the script failed
  std::string Path(const std::string& file) const { return dir + "/" + file; }
};

// Runs $STOA_SOURCE_DIR/deploy/tls/make-dev-certs.sh into a fresh temp dir
// named after `prefix` (each call makes a new CA). (Unit tests, without the
// harness, use WriteDevCerts of tests/fakes/common/dev_certs.h.) Fails the current test
// (ADD_FAILURE) and returns dir "" when the script fails.
DevCerts MakeDevCerts(const std::string& prefix, const std::vector<std::string>& names = {});

struct ExitResult {
  int exit_code = -1;  // -1: killed (it ran past the timeout) or not started
  std::string stderr_text;
  std::string stdout_text;
};
// Runs `binary args...` to its exit (SIGKILL after timeout_ms) and returns
// its exit code and output.
ExitResult RunToExit(const std::string& binary, const std::vector<std::string>& args,
                     int timeout_ms = 20000);

}  // namespace stoa::testing
