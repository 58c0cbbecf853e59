// Per-identity rate limits (token buckets, common/token_bucket.h): one
// request costs one token; an identity over its bucket gets
// RESOURCE_EXHAUSTED (429) with a Retry-After hint (common/overload.h) of the
// seconds until one token is back, rounded up, at least 1.
//
// Keys are the caller's ("file:ops", "jwt:alice"); a key's limit is given
// with each charge, so a reload that changes an identity's limit applies at
// its next request (tokens accrued so far are kept, capped at the new burst).
// Memory is bounded: Retain drops the keys of identities gone from the auth
// file, and buckets that have refilled completely are forgotten by a sweep
// (forgetting a full bucket changes nothing), which runs when the map has
// doubled since the last one; so idle JWT subjects cost nothing.
//
// Thread safety: thread-safe (one mutex; a charge is a hash lookup and a few
// arithmetic operations under it). The clock must outlive the limiter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/token_bucket.h"
#include "gateway/auth/identity.h"

namespace stoa::gateway::auth {

class RateLimiter {
 public:
  explicit RateLimiter(const common::Clock& clock) : clock_(clock) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from `key`'s bucket. OK when allowed or `limit` is
  // unlimited; RESOURCE_EXHAUSTED with a Retry-After payload otherwise (the
  // message names the key and the limit, e.g. "rate limit of file:ops
  // exceeded (10/s, burst 20)").
  absl::Status Charge(const std::string& key, const RateLimit& limit);

  // Drops every bucket whose key starts with `prefix` and is not in `keep`
  // (the auth file's identities after a reload).
  void Retain(std::string_view prefix, const absl::flat_hash_set<std::string>& keep);

  size_t size() const;

 private:
  void SweepLocked(int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, common::TokenBucket> buckets_ ABSL_GUARDED_BY(mu_);
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

}  // namespace stoa::gateway::auth
