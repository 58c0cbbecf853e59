// Who is calling: turns a request's credentials into an Identity, and keeps
// each identity within its rate limit. The gateway makes one Authenticator
// from its flags and asks it for every request but /healthz and /readyz.
//
// Credentials, in order:
//  1. `Authorization: Bearer <value>` (scheme case-insensitive; a second
//     Authorization header is refused). The value's SHA-256 is looked up in
//     the auth file (auth_file.h); failing that, a value shaped like a JWT is
//     verified (jwt_verifier.h) when a JWT key is configured.
//  2. Without that header, a client certificate the TLS server verified:
//     its names (HttpRequest::peer_names, CN first, then SANs) are looked up
//     in the auth file's `certificate:` entries; the first match wins.
// Missing or invalid credentials are UNAUTHENTICATED (401) with a message
// saying what was wrong; a token is never echoed or logged.
//
// When neither an auth file nor a JWT key is configured, enabled() is false
// and Authenticate returns the identity "anonymous" (role admin, source
// "none", no limit): the gateway then runs open, which gateway_main allows
// only on loopback or with --insecure.
//
// Reloading: Reload() (SIGHUP) re-reads the auth file and the JWT key files;
// a watcher thread also re-reads the auth file when its inode, size or mtime
// change (polled every watch_interval_ms; acted on once the file has stayed
// the same for one interval, so a file being rewritten in place is not read
// half-written). A bad file is logged and counted
// (stoa_auth_reloads_total{outcome="error"}) and the previous table stays
// in force; a good one replaces it atomically (requests see either the old
// or the new table) and counts outcome="ok". Rate-limit buckets of
// identities still present are kept; those of removed entries are dropped.
//
// Metrics: stoa_auth_reloads_total{outcome}, stoa_auth_rate_limited_total{role}
// (labelled by role, not identity, so JWT subjects cannot grow the series).
//
// Thread safety: every method is thread-safe. The registry and the clock
// must outlive the Authenticator; its destructor stops the watcher.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/http_types.h"
#include "common/metrics.h"
#include "gateway/auth/auth_file.h"
#include "gateway/auth/identity.h"
#include "gateway/auth/jwt_verifier.h"
#include "gateway/auth/rate_limiter.h"

namespace stoa::gateway::auth {

class Authenticator {
 public:
  struct Options {
    std::string auth_file;              // --auth-file (YAML); "" when only JWTs are used
    std::string jwt_hs256_secret_file;  // --jwt-hs256-secret-file
    std::string jwt_rs256_public_key;   // --jwt-rs256-public-key (PEM file)
    std::string jwt_issuer;             // --jwt-issuer ("": not checked)
    std::string jwt_audience;           // --jwt-audience ("": not checked)
    int jwt_leeway_s = 30;              // clock skew allowed on exp/nbf
    int watch_interval_ms = 1000;       // 0: the file is re-read only by Reload()
    // Injected time: rate limits (monotonic; nullptr: the real clock) and JWT
    // exp/nbf (seconds since the epoch; empty: absl::Now()).
    const common::Clock* clock = nullptr;
    std::function<int64_t()> unix_now;
  };

  // Loads the auth file and the JWT keys; an error names the file and the
  // problem (INVALID_ARGUMENT, NOT_FOUND). `registry` may be null (no metrics).
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(Options options,
                                                               common::metrics::Registry* registry);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // An auth file or a JWT key was given.
  bool enabled() const { return enabled_; }

  absl::StatusOr<Identity> Authenticate(const common::HttpRequest& request) const;

  // Re-reads the auth file and the JWT keys. Each one that fails keeps its
  // previous contents; the first error is returned (and logged).
  absl::Status Reload();

  // One request of `identity` against its rate limit: OK, or
  // RESOURCE_EXHAUSTED (429) with a Retry-After payload (common/overload.h).
  absl::Status Charge(const Identity& identity);

  // Entries in the auth file now in force.
  size_t identities() const;

 private:
  struct FileStamp {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };

  Authenticator(Options options, common::metrics::Registry* registry);
  static FileStamp StampOf(const struct stat& st);
  absl::Status ReloadFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::Status ReloadKeys() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::StatusOr<Identity> FromBearer(std::string_view token) const;
  absl::StatusOr<Identity> FromCertificate(const std::vector<std::string>& names) const;
  std::shared_ptr<const AuthTable> table() const;
  std::shared_ptr<const JwtVerifier> jwt() const;
  void Watch();

  const Options options_;
  const bool enabled_;
  const common::Clock& clock_;
  std::unique_ptr<common::metrics::Registry> own_registry_;  // when none is given
  common::metrics::CounterPtr reloads_ok_, reloads_error_;
  common::metrics::CounterPtr rate_limited_[4];  // by Role
  RateLimiter limiter_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthTable> table_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const JwtVerifier> jwt_ ABSL_GUARDED_BY(mu_);

  absl::Mutex reload_mu_;  // one reload at a time (watcher, SIGHUP)
  FileStamp stamp_ ABSL_GUARDED_BY(reload_mu_);

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread watcher_;
};

// The WWW-Authenticate value for a 401 made from Authenticate's `status`
// (RFC 6750 § 3): `Bearer realm="stoa"` when the request carried no
// credentials at all, `Bearer realm="stoa", error="invalid_token"` when it
// carried bad ones. The status message goes in the JSON body, not here.
std::string WwwAuthenticate(const absl::Status& status);

}  // namespace stoa::gateway::auth
