// A token bucket that turns "n bytes handed to the link now" into "the time
// the last of them has left": the serialisation delay of a rate-limited link.
// Tokens are bytes; they accrue at the rate up to `burst` bytes. Taking more
// than is available leaves a debt that later takes wait out, so a stream of
// chunks leaves at exactly the rate whatever the chunk sizes.
//
// Times are microseconds on any monotonic clock; a time earlier than one seen
// before counts as that one. Not thread-safe (LinkShaper holds a lock).
#pragma once

#include <cstddef>
#include <cstdint>

namespace stoa::deploy {

class TokenBucket {
 public:
  // rate_bytes_per_s <= 0: unlimited (Take always returns `now_us`).
  TokenBucket(double rate_bytes_per_s, double burst_bytes);

  // Changes the rate from `now_us` on; tokens accrued so far are kept, a debt
  // is paid at the new rate. Unlimited clears the debt.
  void SetRate(int64_t now_us, double rate_bytes_per_s);
  double rate() const { return rate_; }

  // Takes `bytes` at `now_us`; returns when they have left (>= now_us).
  int64_t Take(int64_t now_us, size_t bytes);

 private:
  void Refill(int64_t now_us);

  double rate_;
  double burst_;
  double tokens_;
  int64_t last_us_ = INT64_MIN;
};

}  // namespace stoa::deploy
