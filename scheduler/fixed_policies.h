// Policies that ignore the latency model: the operator's fixed rules.
#pragma once

#include <atomic>
#include <cstdint>

#include "scheduler/placement_policy.h"

namespace stoa::scheduler {

// edge_only / cloud_only: always a target of `tier` (edge or cloud), reason
// policy, no failover when its circuit is open. With several targets of
// that tier: an unmeasured one first (each is tried once), then the one
// predicted fastest; among the available ones, or the allowed ones when
// none is available. If the
// function allows no target of that tier, the first allowed target is used
// with reason failover.
class FixedTierPolicy final : public PlacementPolicy {
 public:
  explicit FixedTierPolicy(TierClass tier) : tier_(tier) {}
  // The tier of target `target` in the installed table.
  explicit FixedTierPolicy(Tier target) : tier_(Targets().at(target).tier) {}
  Choice Choose(const PolicyInput& in) override;

 private:
  const TierClass tier_;
};

// Alternates among the allowed tiers whose circuit admits requests.
class RoundRobinPolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;

 private:
  std::atomic<uint64_t> next_{0};
};

// Uniform among the allowed tiers whose circuit admits requests.
class RandomPolicy final : public PlacementPolicy {
 public:
  Choice Choose(const PolicyInput& in) override;
};

}  // namespace stoa::scheduler
