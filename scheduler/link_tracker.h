// The LinkTracker follows each tier's link from the gateway's background
// probes (Scheduler::ObserveLink: a GetStatus with no payload), so the net
// term sees a link change while no function is sent there.
//
// Per tier it keeps the round trip smoothed with weight kLinkWeight on the
// newest probe, and the mean absolute deviation of probes from it. A probe
// far above the smoothed value (4 × the deviation + 10 % + 1 ms) is a spike
// and moves it by kLinkWeight only; two in a row far above (StepDetector)
// are a step: the smoothed value jumps to the newest. One probe far below,
// or below half the smoothed value however noisy the probes were, is
// believed at once and clears the deviation (a probe cannot beat its link:
// the link got faster, or a spike or a slow spell ended), so a recovery is
// seen as fast as a degradation.
//
// Thread safety: RttMs is lock-free (Decide reads it on every request);
// Observe may be called concurrently (one mutex, held for a few
// arithmetic operations).
#pragma once

#include <array>
#include <atomic>

#include "absl/synchronization/mutex.h"
#include "scheduler/streaming_stats.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

class LinkTracker {
 public:
  // Weight of the newest probe in the smoothed round trip.
  static constexpr double kLinkWeight = 0.3;

  LinkTracker();
  LinkTracker(const LinkTracker&) = delete;
  LinkTracker& operator=(const LinkTracker&) = delete;

  // The smoothed probe round trip of `tier`, ms; NaN until its first probe.
  double RttMs(Tier tier) const;
  // One successful probe of `tier` took `rtt_ms`; a non-finite or negative
  // value is ignored. True when the probe was believed at once as far below
  // the smoothed value (the tier got much faster, e.g. a starved executor
  // answers again): the scheduler then refreshes its estimates there.
  bool Observe(Tier tier, double rtt_ms);

 private:
  struct Track {
    double mean_abs_dev = 0.0;
    StepDetector step;
  };

  // Written under mu_, read without it.
  std::array<std::atomic<double>, kNumTiers> rtt_ms_;
  absl::Mutex mu_;
  std::array<Track, kNumTiers> tracks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::scheduler
