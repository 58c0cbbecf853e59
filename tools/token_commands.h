// `stoa tokens create`: a new bearer token for the gateway's auth file
// (`stoa-gateway --auth-file FILE`), made locally; no gateway is involved.
//
// The token is "stoa_" + 32 bytes from OpenSSL's CSPRNG (RAND_bytes) in
// base64url without padding (48 characters in all). It is printed once, on
// its own line, followed by the YAML entry to add under `tokens:` in the
// auth file, which holds only the token's SHA-256 (hex of the SHA-256 of
// the token string), never the token:
//
//   stoa_Jx...
//     - name: ci-deploy
//       sha256: 6f1c...
//       role: developer
//       tenant: acme
//       functions: ["digits", "anomaly-*"]
//
// Thread safety: pure functions (NewToken draws from the CSPRNG).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::tools {

struct TokenRequest {
  std::string role;                    // admin | developer | operator | invoker
  std::string tenant;                  // optional: [a-z0-9][a-z0-9_.-]{0,62}
  std::vector<std::string> functions;  // optional, invokers only: name patterns ('*' wildcard)
  std::string name;  // optional ([A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}); default <role>-<8 hex>
};

// A fresh token; INTERNAL when the CSPRNG fails.
absl::StatusOr<std::string> NewToken();

// The auth-file entry for `token` (lines indented to go under `tokens:`).
// INVALID_ARGUMENT naming the bad field (the same rules as the gateway's
// auth file, so the entry always loads).
absl::StatusOr<std::string> TokenYamlEntry(const TokenRequest& request, const std::string& token);

// The whole command: the token, then the entry, on `out`; 0, or 2 with the
// reason on `err` for a bad request.
int CreateToken(const TokenRequest& request, std::ostream& out, std::ostream& err);

}  // namespace stoa::tools
