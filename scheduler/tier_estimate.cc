#include "scheduler/tier_estimate.h"

#include <algorithm>
#include <cmath>

namespace stoa::scheduler {

void Ewma::Add(double x, double alpha) {
  double old = mean_.load(std::memory_order_relaxed);
  double next;
  do {
    next = std::isnan(old) ? x : old + alpha * (x - old);
  } while (!mean_.compare_exchange_weak(old, next, std::memory_order_relaxed));
  if (!std::isnan(old)) {
    double d = std::fabs(x - old);
    double dev = dev_.load(std::memory_order_relaxed);
    while (!dev_.compare_exchange_weak(dev, dev + alpha * (d - dev), std::memory_order_relaxed)) {
    }
  }
  count_.fetch_add(1, std::memory_order_release);
}

double Ewma::Estimate(Objective objective) const {
  double m = Mean();
  return objective == Objective::kP95 ? m + 2.0 * Deviation() : m;
}

void TierEstimate::Record(const Outcome& outcome, double alpha) {
  if (!std::isfinite(outcome.latency_ms) || !std::isfinite(outcome.load_ms)) return;
  double latency = std::max(0.0, outcome.latency_ms);
  double load = std::clamp(outcome.load_ms, 0.0, latency);
  last_latency_ms_.store(latency, std::memory_order_relaxed);
  if (load > 0.0) cold_.Add(load, alpha);
  warm_.Add(latency - load, alpha);
}

Prediction TierEstimate::Predict(bool warm, Objective objective) const {
  if (!warm_.HasValue()) return {};
  double ms = warm_.Estimate(objective);
  if (!warm) ms += cold_.HasValue() ? cold_.Estimate(objective) : kDefaultColdMs;
  return {true, ms};
}

}  // namespace stoa::scheduler
