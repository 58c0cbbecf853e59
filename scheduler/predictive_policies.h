// Policies driven by the per function × tier latency model
// (latency_model.h). All three share one exploration rule:
//   1. an allowed, available tier with no successful observation yet for
//      the function is tried first (reason explore), so every tier gets
//      measured;
//   2. after that, when the scheduler marks another tier explorable (not
//      used lately, and the function's explore_budget not spent), the
//      request probes it (reason explore), which keeps the estimate of the
//      losing tier fresh so the model notices when it gets better again.
// Hedging and shadow runs are added by the scheduler on top of the choice.
#pragma once

#include <array>

#include "scheduler/placement_policy.h"

namespace stoa::scheduler {

// predictive: the tier with the lowest predicted latency (mean, or the p95
// estimate for objective p95), reason predicted-best.
class PredictivePolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;
};

// slo: the edge (the cheap tier) unless its predicted p95 (whatever the
// objective) exceeds slo_ms (0 = no SLO), reason policy; otherwise the
// fastest tier, reason predicted-best. An unmeasured edge counts as meeting the SLO.
class SloPolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;
};

// weighted: the lowest score weights.latency · predicted_ms +
// weights.cost · cost + weights.energy · energy (the weights convert cost
// and energy units into milliseconds' worth), reason predicted-best.
class WeightedPolicy final : public PlacementPolicy {
 public:
  explicit WeightedPolicy(TierFigures figures = {}) : figures_(figures) {}
  Choice Choose(const PolicyInput& in) override;

 private:
  const TierFigures figures_;
};

}  // namespace stoa::scheduler
