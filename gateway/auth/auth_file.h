// The auth file (`stoa-gateway --auth-file FILE`, YAML): who may call the
// gateway with which credentials.
//
//   tokens:
//     - name: ops                 # [A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}; logged, never a secret
//       sha256: <64 lower-case hex> # SHA-256 of the bearer token (the token is never stored)
//       certificate: device-1     # and/or: a client certificate whose CN or a SAN is this
//       role: admin               # admin | developer | operator | invoker
//       tenant: acme              # optional, [a-z0-9][a-z0-9_.-]{0,62}
//       functions: ["digits", "anomaly-*"]   # optional, invokers only
//       rate_limit: {per_second: 50, burst: 100}   # optional, this identity's own
//   rate_limits:                  # optional, per role (entries without their own)
//     invoker: {per_second: 100, burst: 200}
//
// Parsing is strict: an unknown or repeated key, a digest that is not 64
// lower-case hex characters, an unknown role, a bad tenant, two entries with
// the same name, digest or certificate name, an entry with neither sha256
// nor certificate, `functions` on a role other than invoker (refused: only
// invokers are limited by it, so it would mislead), a negative rate or a
// burst below 1: each is INVALID_ARGUMENT naming the file and the line.
// Values that could be a pasted secret (sha256) are never echoed. An empty
// file is valid and lets no token in.
//
// Thread safety: pure functions; AuthTable is an immutable value once made.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gateway/auth/identity.h"

namespace stoa::gateway::auth {

struct AuthEntry {
  Identity identity;        // source is "" here; the Authenticator sets it per lookup
  std::string sha256;       // "" when the entry has only a certificate
  std::string certificate;  // "" when the entry has only a token
  int line = 0;             // where the entry starts in the file (1-based)
};

struct AuthTable {
  std::vector<AuthEntry> entries;
  absl::flat_hash_map<std::string, size_t> by_sha256;       // digest -> entries index
  absl::flat_hash_map<std::string, size_t> by_certificate;  // name -> entries index
  std::array<RateLimit, 4> role_limits{};                   // indexed by Role

  const RateLimit& RoleLimit(Role role) const { return role_limits[static_cast<size_t>(role)]; }
};

// Parses YAML text; `origin` names it in errors ("auth file /etc/stoa/auth.yaml").
absl::StatusOr<AuthTable> ParseAuthYaml(const std::string& text, std::string_view origin);

// Reads and parses `path`. NOT_FOUND / PERMISSION_DENIED when it cannot be
// read. Logs a warning (not an error) when other users may read the file.
absl::StatusOr<AuthTable> LoadAuthFile(const std::string& path);

}  // namespace stoa::gateway::auth
