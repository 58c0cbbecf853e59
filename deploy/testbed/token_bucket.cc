#include "deploy/testbed/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace stoa::deploy {

TokenBucket::TokenBucket(double rate_bytes_per_s, double burst_bytes)
    : rate_(rate_bytes_per_s), burst_(std::max(0.0, burst_bytes)), tokens_(burst_) {}

void TokenBucket::Refill(int64_t now_us) {
  if (last_us_ == INT64_MIN) last_us_ = now_us;
  if (now_us <= last_us_) return;
  if (rate_ > 0) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_us - last_us_) / 1e6);
  }
  last_us_ = now_us;
}

void TokenBucket::SetRate(int64_t now_us, double rate_bytes_per_s) {
  Refill(now_us);
  rate_ = rate_bytes_per_s;
  if (rate_ <= 0) tokens_ = burst_;
}

int64_t TokenBucket::Take(int64_t now_us, size_t bytes) {
  Refill(now_us);
  const int64_t now = std::max(now_us, last_us_);
  if (rate_ <= 0) return now;
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return now;
  return now + static_cast<int64_t>(std::ceil(-tokens_ / rate_ * 1e6));
}

}  // namespace stoa::deploy
