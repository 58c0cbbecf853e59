#include "scheduler/link_tracker.h"

#include <cmath>
#include <limits>

namespace stoa::scheduler {

LinkTracker::LinkTracker() {
  for (auto& rtt : rtt_ms_) rtt.store(std::numeric_limits<double>::quiet_NaN());
}

double LinkTracker::RttMs(Tier tier) const {
  return rtt_ms_[TierIndex(tier)].load(std::memory_order_relaxed);
}

bool LinkTracker::Observe(Tier tier, double rtt_ms) {
  if (!std::isfinite(rtt_ms) || rtt_ms < 0.0) return false;
  absl::MutexLock lock(&mu_);
  std::atomic<double>& smoothed = rtt_ms_[TierIndex(tier)];
  Track& track = tracks_[TierIndex(tier)];
  const double old = smoothed.load(std::memory_order_relaxed);
  if (!std::isfinite(old)) {
    smoothed.store(rtt_ms, std::memory_order_relaxed);
    return false;
  }
  const double dev = rtt_ms - old;
  const double threshold = 4.0 * track.mean_abs_dev + 0.1 * old + 1.0;
  double next = old + kLinkWeight * dev;
  bool dropped = false;
  // Far below, or below half the smoothed value (the deviation of a noisy
  // slow regime, e.g. a throttled executor answering in 30-65 ms, must not
  // hide its end): no queue or retransmission makes a probe faster than
  // its link, so one such probe is enough (a faster link, or the end of a
  // spike or of a slow spell): follow it at once, with the old regime's
  // noise forgotten.
  if (dev < -threshold || (dev < -2.0 && rtt_ms < 0.5 * old)) {
    next = rtt_ms;
    track.step.Reset();
    track.mean_abs_dev = 0.0;
    dropped = true;
  } else if (track.step.Add(dev, threshold)) {
    next = rtt_ms;  // a step, not a spike
  } else if (std::fabs(dev) <= threshold) {
    track.mean_abs_dev += kLinkWeight * (std::fabs(dev) - track.mean_abs_dev);
  }
  smoothed.store(next, std::memory_order_relaxed);
  return dropped;
}

}  // namespace stoa::scheduler
