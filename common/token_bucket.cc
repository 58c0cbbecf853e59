#include "common/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace stoa::common {

TokenBucket::TokenBucket(double rate_per_s, double burst)
    : rate_(rate_per_s), burst_(std::max(0.0, burst)), tokens_(burst_) {}

void TokenBucket::Refill(int64_t now_us) {
  if (last_us_ == INT64_MIN) last_us_ = now_us;
  if (now_us <= last_us_) return;
  if (rate_ > 0) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_us - last_us_) / 1e6);
  }
  last_us_ = now_us;
}

void TokenBucket::SetRate(int64_t now_us, double rate_per_s) {
  Refill(now_us);
  rate_ = rate_per_s;
  if (rate_ <= 0) tokens_ = burst_;
}

void TokenBucket::SetBurst(int64_t now_us, double burst) {
  Refill(now_us);
  burst_ = std::max(0.0, burst);
  tokens_ = std::min(tokens_, burst_);
}

int64_t TokenBucket::Take(int64_t now_us, size_t tokens) {
  Refill(now_us);
  const int64_t now = std::max(now_us, last_us_);
  if (rate_ <= 0) return now;
  tokens_ -= static_cast<double>(tokens);
  if (tokens_ >= 0) return now;
  return now + static_cast<int64_t>(std::ceil(-tokens_ / rate_ * 1e6));
}

int64_t TokenBucket::TryTake(int64_t now_us, double tokens) {
  Refill(now_us);
  if (rate_ <= 0) return 0;
  if (tokens <= tokens_) {
    tokens_ -= tokens;
    return 0;
  }
  const double missing = std::min(tokens, burst_) - tokens_;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing / rate_ * 1e6)));
}

bool TokenBucket::Full(int64_t now_us) {
  Refill(now_us);
  return rate_ <= 0 || tokens_ >= burst_;
}

}  // namespace stoa::common
