#include "gateway/auth/rate_limiter.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/overload.h"

namespace stoa::gateway::auth {
namespace {

double EffectiveBurst(const RateLimit& limit) {
  return limit.burst > 0 ? limit.burst : std::max(1.0, limit.per_second);
}

}  // namespace

absl::Status RateLimiter::Charge(const std::string& key, const RateLimit& limit) {
  if (!limit.limited()) return absl::OkStatus();
  const double burst = EffectiveBurst(limit);
  const int64_t now = clock_.NowMicros();
  int64_t wait_us = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= sweep_at_) SweepLocked(now);
      it = buckets_.emplace(key, common::TokenBucket(limit.per_second, burst)).first;
    } else {
      if (it->second.rate() != limit.per_second) it->second.SetRate(now, limit.per_second);
      if (it->second.burst() != burst) it->second.SetBurst(now, burst);
    }
    wait_us = it->second.TryTake(now, 1);
  }
  if (wait_us == 0) return absl::OkStatus();
  return common::WithRetryAfter(
      absl::ResourceExhaustedError(absl::StrCat("rate limit of ", key, " exceeded (",
                                                limit.per_second, "/s, burst ", burst, ")")),
      common::RetryAfterFromMs(static_cast<double>(wait_us) / 1000.0));
}

void RateLimiter::SweepLocked(int64_t now_us) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (it->second.Full(now_us)) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
  sweep_at_ = std::max<size_t>(1024, 2 * buckets_.size());
}

void RateLimiter::Retain(std::string_view prefix, const absl::flat_hash_set<std::string>& keep) {
  absl::MutexLock lock(&mu_);
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (std::string_view(it->first).starts_with(prefix) && !keep.contains(it->first)) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

size_t RateLimiter::size() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace stoa::gateway::auth
