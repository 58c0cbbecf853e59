// Verifies bearer JWTs (RFC 7519, compact JWS) with HS256 (a shared secret
// file) or RS256 (an RSA public key, PEM), and turns their claims into an
// Identity.
//
// Algorithm choice is ours, never the token's: the header's `alg` is read
// first and must be one of the configured algorithms, and the key is picked
// by it (so an HS256 token "signed" with the RS256 public key as the secret,
// the alg-confusion attack, is refused on an RS256-only gateway, and cannot
// verify on one with both). `none` is always refused.
//
// Signatures are checked twice: first with OpenSSL on the key parsed once
// (HMAC-SHA256 compared in constant time; RSASSA-PKCS1-v1_5 SHA-256), which
// refuses forged tokens for tens of microseconds; then, once the claims
// pass, by libjwt's jwt_decode, which must report the same algorithm back.
// libjwt 1.10 parses the PEM key on every call, about 1 ms with OpenSSL 3,
// so it runs only for tokens that are valid, once each (then cached).
//
// Claims (the payload must be a JSON object):
//   sub    required, non-empty string (at most 256 printable bytes): the
//          identity's name
//   role   required: admin | developer | operator | invoker
//   exp    REQUIRED, a number (seconds since the epoch): a JWT without exp
//          is refused, so no token is valid forever
//   nbf    optional number
//   tenant optional string, a valid tenant name (identity.h)
//   functions  optional array of strings, invokers only
//   iss    checked when an issuer is configured (must equal it)
//   aud    checked when an audience is configured (a string equal to it, or
//          an array holding it)
// exp and nbf allow `leeway_s` of clock skew. Every failure is
// UNAUTHENTICATED saying which check failed ("the JWT expired at
// 2026-11-29T10:00:00Z", "the JWT signature does not verify", "alg HS256 is
// not accepted (configured: RS256)"); the token itself is never echoed.
//
// Verified tokens are cached (keyed by the SHA-256 of the token, bounded,
// honouring exp), because RS256 verification costs tens of microseconds.
//
// Thread safety: Verify is thread-safe. Keys are read once, in Create: to
// rotate keys, make a new verifier (Authenticator::Reload does).
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/auth/identity.h"

namespace stoa::gateway::auth {

class JwtVerifier {
 public:
  struct Options {
    std::string hs256_secret_file;      // the secret's bytes (a trailing newline is dropped); >= 32
    std::string rs256_public_key_file;  // PEM "PUBLIC KEY", RSA, >= 2048 bits
    std::string issuer;                 // "": iss not checked
    std::string audience;               // "": aud not checked
    int leeway_s = 30;
    size_t cache_entries = 4096;  // 0: no cache
  };

  // INVALID_ARGUMENT (or NOT_FOUND for a missing file) naming the file and
  // what is wrong with it; FAILED_PRECONDITION when neither key is given.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(const Options& options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Three base64url segments separated by dots (the third may be empty).
  static bool LooksLikeJwt(std::string_view token);

  // The identity the token carries, with source "jwt" and no rate limit
  // (the caller resolves it). `now_unix_s`: the wall clock. `sha256_hex`:
  // the token's common::Sha256Hex when the caller has it already (the cache
  // key), else "".
  absl::StatusOr<Identity> Verify(std::string_view token, int64_t now_unix_s,
                                  std::string_view sha256_hex = "") const;

  // "HS256", "RS256" or "HS256, RS256".
  std::string configured_algorithms() const;

 private:
  struct Cached {
    Identity identity;
    int64_t exp = 0;
  };
  explicit JwtVerifier(const Options& options) : options_(options) {}
  absl::StatusOr<Identity> VerifyUncached(std::string_view token, int64_t now_unix_s,
                                          int64_t* exp) const;
  absl::StatusOr<Identity> CheckClaims(std::string_view payload_b64, int64_t now_unix_s,
                                       int64_t* exp) const;
  void Remember(std::string key, const Identity& identity, int64_t exp, int64_t now) const;

  const Options options_;
  std::string hs256_secret_;  // empty: HS256 not accepted
  std::string rs256_pem_;     // empty: RS256 not accepted
  struct PkeyFree {
    void operator()(evp_pkey_st* key) const;
  };
  std::unique_ptr<evp_pkey_st, PkeyFree> rs256_key_;  // rs256_pem_, parsed once
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway::auth
