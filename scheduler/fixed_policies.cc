#include "scheduler/fixed_policies.h"

namespace stoa::scheduler {
namespace {

// The available tiers in order, or the allowed ones when none is available
// (the scheduler then reports UNAVAILABLE).
int Candidates(const PolicyInput& in, std::array<Tier, kNumTiers>& out) {
  TierSet set = in.available.Empty() ? in.allowed : in.available;
  int n = 0;
  for (Tier t : kAllTiers) {
    if (set.Contains(t)) out[n++] = t;
  }
  return n;
}

Tier FirstAllowed(const PolicyInput& in) {
  for (Tier t : kAllTiers) {
    if (in.allowed.Contains(t)) return t;
  }
  return Tier::kEdge;
}

}  // namespace

Choice FixedTierPolicy::Choose(const PolicyInput& in) {
  if (in.allowed.Contains(tier_)) return {tier_, Reason::kPolicy, false};
  return {FirstAllowed(in), Reason::kFailover, false};
}

Choice RoundRobinPolicy::Choose(const PolicyInput& in) {
  std::array<Tier, kNumTiers> c{};
  int n = Candidates(in, c);
  if (n == 0) return {FirstAllowed(in), Reason::kPolicy};
  uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
  return {c[i % n], Reason::kPolicy};
}

Choice RandomPolicy::Choose(const PolicyInput& in) {
  std::array<Tier, kNumTiers> c{};
  int n = Candidates(in, c);
  if (n <= 1) return {n == 1 ? c[0] : FirstAllowed(in), Reason::kPolicy};
  return {c[in.rng->Below(n)], Reason::kPolicy};
}

}  // namespace stoa::scheduler
