// Policies that ignore the latency model: the operator's fixed rules.
#pragma once

#include <atomic>
#include <cstdint>

#include "scheduler/placement_policy.h"

namespace stoa::scheduler {

// edge_only / cloud_only: always `tier`, reason policy, no failover when its
// circuit is open. If the function does not allow `tier`, the allowed one
// is used with reason failover.
class FixedTierPolicy final : public PlacementPolicy {
 public:
  explicit FixedTierPolicy(Tier tier) : tier_(tier) {}
  Choice Choose(const PolicyInput& in) override;

 private:
  const Tier tier_;
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
