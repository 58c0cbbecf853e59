// A token bucket. Tokens accrue at `rate` per second up to `burst`. Two ways
// to spend them:
//  - Take: always succeeds and may leave a debt that later takes wait out;
//    it returns the time the last token is paid for. The link emulator
//    (deploy/testbed/link_shaper.h) turns "n bytes handed to the link now"
//    into "the time the last of them has left": the serialisation delay of a
//    rate-limited link, exact whatever the chunk sizes.
//  - TryTake: all or nothing, never a debt; on refusal it says how long until
//    the tokens are there. The gateway's per-identity rate limits
//    (gateway/auth/rate_limiter.h) use it.
//
// Times are microseconds on any monotonic clock; a time earlier than one seen
// before counts as that one. Not thread-safe (callers hold a lock).
#pragma once

#include <cstddef>
#include <cstdint>

namespace stoa::common {

class TokenBucket {
 public:
  // rate_per_s <= 0: unlimited (Take returns `now_us`, TryTake succeeds).
  // The bucket starts full.
  TokenBucket(double rate_per_s, double burst);

  // Changes the rate from `now_us` on; tokens accrued so far are kept, a debt
  // is paid at the new rate. Unlimited clears the debt.
  void SetRate(int64_t now_us, double rate_per_s);
  // Changes the burst from `now_us` on; tokens above the new burst are lost.
  void SetBurst(int64_t now_us, double burst);
  double rate() const { return rate_; }
  double burst() const { return burst_; }

  // Takes `tokens` at `now_us`; returns when they are paid for (>= now_us).
  int64_t Take(int64_t now_us, size_t tokens);

  // Takes `tokens` at `now_us` if the bucket holds them and returns 0;
  // otherwise takes nothing and returns the microseconds until it will
  // (> 0). Asking for more than the burst can never succeed: it returns the
  // time to fill the whole bucket, and still takes nothing.
  int64_t TryTake(int64_t now_us, double tokens);

  // Whether the bucket is full at `now_us` (forgetting it changes nothing).
  bool Full(int64_t now_us);

 private:
  void Refill(int64_t now_us);

  double rate_;
  double burst_;
  double tokens_;
  int64_t last_us_ = INT64_MIN;
};

}  // namespace stoa::common
