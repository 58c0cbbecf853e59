#include "scheduler/placement_policy.h"

#include "scheduler/fixed_policies.h"
#include "scheduler/predictive_policies.h"

namespace stoa::scheduler {

uint64_t Rng::Next() {
  uint64_t z =
      state_.fetch_add(0x9E3779B97F4A7C15ULL, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

PlacementPolicyPtr MakePlacementPolicy(const PolicyConfig& config, const TierFigures& figures) {
  switch (config.policy) {
    case PolicyKind::kEdgeOnly:
      return std::make_unique<FixedTierPolicy>(TierClass::kEdge);
    case PolicyKind::kCloudOnly:
      return std::make_unique<FixedTierPolicy>(TierClass::kCloud);
    case PolicyKind::kRoundRobin:
      return std::make_unique<RoundRobinPolicy>();
    case PolicyKind::kRandom:
      return std::make_unique<RandomPolicy>();
    case PolicyKind::kSlo:
      return std::make_unique<SloPolicy>();
    case PolicyKind::kWeighted:
      return std::make_unique<WeightedPolicy>(figures);
    case PolicyKind::kPredictive:
      break;
  }
  return std::make_unique<PredictivePolicy>();
}

}  // namespace stoa::scheduler
