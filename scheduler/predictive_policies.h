// Policies driven by the per function × tier latency estimates
// (tier_estimate.h). All three share one exploration rule:
//   1. an allowed, available tier with no successful observation yet for
//      the function is tried first (reason explore), so every tier gets
//      measured;
//   2. after that, with probability explore_budget the request probes an
//      available tier other than the one the rule picked (reason explore),
//      which keeps the estimate of the losing tier fresh.
// The first version of the feedback controller of DESIGN.md § Scheduler;
// regression terms, hedging and shadow execution come later.
#pragma once

#include <array>

#include "scheduler/placement_policy.h"

namespace stoa::scheduler {

// predictive: the tier with the lowest predicted latency (mean, or the p95
// estimate for objective p95), reason predicted_best.
class PredictivePolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;
};

// slo: the edge (the cheap tier) unless its predicted latency exceeds
// slo_ms (0 = no SLO), reason policy; otherwise the fastest tier, reason
// predicted_best. An unmeasured edge counts as meeting the SLO.
class SloPolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;
};

// Per-request cost and energy of a tier, in relative units. The defaults
// stand until executors report real figures (a later issue): the edge is
// already paid for (cost 0) but runs on a less efficient CPU (energy 1); a
// cloud request costs 1 and, on an accelerator, 0.2 of the edge's energy.
struct TierFigures {
  std::array<double, kNumTiers> cost = {0.0, 1.0};    // indexed by TierIndex
  std::array<double, kNumTiers> energy = {1.0, 0.2};  // indexed by TierIndex
};

// weighted: the lowest score weights.latency · predicted_ms +
// weights.cost · cost + weights.energy · energy (the weights convert cost
// and energy units into milliseconds' worth), reason predicted_best.
class WeightedPolicy final : public PlacementPolicy {
 public:
  explicit WeightedPolicy(TierFigures figures = {}) : figures_(figures) {}
  Choice Choose(const PolicyInput& in) override;

 private:
  const TierFigures figures_;
};

}  // namespace stoa::scheduler
