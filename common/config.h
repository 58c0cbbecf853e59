// Configuration: every command-line flag of a binary also has a YAML key of
// the same name (without the dashes). A file given with `--config FILE` is
// turned into flags that come before the real command line, so that with
// CLI11's TakeLast policy the command line wins.
//
//   # gateway.yaml
//   listen: 127.0.0.1:8080
//   data-dir: /var/lib/stoa
//   cloud: [127.0.0.1:50051, 127.0.0.1:50052]   # a sequence becomes a,b
//
// Errors: a missing file is NOT_FOUND; malformed YAML or a nested mapping is
// INVALID_ARGUMENT naming the file, line and key.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::common {

// Flags equivalent to the YAML file at `path` ("--key", "value", ...).
absl::StatusOr<std::vector<std::string>> ConfigFileToArgs(const std::string& path);

// argv with the flags of `--config FILE` (or `--config=FILE`) inserted after
// argv[0]; argv unchanged when there is no --config.
absl::StatusOr<std::vector<std::string>> ExpandConfigArgs(int argc, const char* const* argv);

}  // namespace stoa::common
