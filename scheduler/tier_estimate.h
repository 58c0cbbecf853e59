// What the scheduler has learned about one function on one tier: smoothed
// warm latency and cold-start cost, and the prediction made from them.
//
// Both are exponentially weighted moving averages (EWMA) whose weight is
// PolicyConfig::smoothing, each with a smoothed mean absolute deviation so
// that `objective: p95` can use a high estimate, mean + 2 · deviation (for a
// normal distribution that is about the 95th percentile, and it stays
// conservative for skewed latencies with a heavy right tail).
//
// Thread safety: every method is lock-free (compare-and-swap on atomics);
// concurrent Record calls on the same estimate never tear a value, though
// the mean and its deviation may momentarily reflect different samples.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

#include "scheduler/policy_config.h"
#include "scheduler/scheduler.h"

namespace stoa::scheduler {

// Until a cold start of a function has been seen on a tier, a non-warm tier
// is charged this much: conservative enough that a warm tier wins ties.
inline constexpr double kDefaultColdMs = 50.0;

class Ewma {
 public:
  // Folds in `x` with weight `alpha` in (0, 1]; the first sample sets the mean.
  void Add(double x, double alpha);
  bool HasValue() const { return count_.load(std::memory_order_acquire) > 0; }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  // NaN before the first sample.
  double Mean() const { return mean_.load(std::memory_order_relaxed); }
  double Deviation() const { return dev_.load(std::memory_order_relaxed); }
  // Mean, or mean + 2 · deviation for Objective::kP95.
  double Estimate(Objective objective) const;

 private:
  std::atomic<double> mean_{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<double> dev_{0.0};
  std::atomic<uint64_t> count_{0};
};

struct Prediction {
  bool measured = false;  // at least one successful observation
  double ms = 0.0;        // end to end; 0 when not measured
};

class TierEstimate {
 public:
  // Learns from a successful outcome: warm part = latency − load, cold part
  // = load when > 0. Non-finite values are ignored, negative ones clamped.
  void Record(const Outcome& outcome, double alpha);

  // warm EWMA + (warm ? 0 : cold EWMA, or kDefaultColdMs until observed).
  Prediction Predict(bool warm, Objective objective) const;

  uint64_t Observations() const { return warm_.Count(); }
  const Ewma& warm() const { return warm_; }
  const Ewma& cold() const { return cold_; }
  double LastLatencyMs() const { return last_latency_ms_.load(std::memory_order_relaxed); }

 private:
  Ewma warm_;
  Ewma cold_;
  std::atomic<double> last_latency_ms_{std::numeric_limits<double>::quiet_NaN()};
};

}  // namespace stoa::scheduler
