// One direction of an emulated link, shared by every connection through it:
// decides when a chunk of bytes read from one side is released to the other.
//
//   sent    = TokenBucket(rate).Take(now, bytes)      serialisation (rate)
//   delay   = max(0, Normal(delay_ms, jitter_ms))     propagation, as netem
//           + RTO if the chunk is "lost" (probability `loss`)
//   release = max(sent + delay, previous release on the same connection)
//
// The last line keeps bytes in order within a connection (TCP never
// reorders); with jitter it makes the mean delay slightly larger than
// delay_ms. Loss on a TCP proxy cannot drop bytes (the stream would break),
// so a lost chunk is delivered one retransmission timeout late, as TCP
// would: RTO = max(200 ms, 2·delay + 4·jitter) (Linux's minimum RTO, and
// srtt + 4·rttvar with rtt = 2·delay). loss = 1 is a blackhole: Blackholed()
// is true and the proxy stops reading (the connection stalls, nothing is
// lost) until the loss is lowered.
//
// Thread-safe: all methods lock. Randomness is seeded, so tests are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/token_bucket.h"
#include "deploy/testbed/link_params.h"

namespace stoa::deploy {

class LinkShaper {
 public:
  // Burst of the token bucket: about one TCP window's worth at most.
  static constexpr double kBurstBytes = 16 * 1024;
  static constexpr double kMinRtoMs = 200;

  LinkShaper(const LinkParams& params, uint64_t seed);
  LinkShaper(const LinkShaper&) = delete;
  LinkShaper& operator=(const LinkShaper&) = delete;

  // New parameters from `now_us` on; chunks already scheduled keep their
  // release time. `params` must be valid (ValidateLinkParams).
  void Set(int64_t now_us, const LinkParams& params);
  LinkParams params() const;
  bool Blackholed() const;

  // `bytes` read at `now_us` on a connection whose previous chunk is
  // released at `prev_release_us` (0 for the first); returns this chunk's
  // release time in µs, >= now_us and >= prev_release_us.
  int64_t Schedule(int64_t now_us, size_t bytes, int64_t prev_release_us);

  static double RtoMs(const LinkParams& params);

 private:
  mutable absl::Mutex mu_;
  LinkParams params_ ABSL_GUARDED_BY(mu_);
  common::TokenBucket bucket_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::deploy
