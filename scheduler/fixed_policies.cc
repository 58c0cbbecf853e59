#include "scheduler/fixed_policies.h"

#include <optional>

namespace stoa::scheduler {
namespace {

// The available tiers in order, or the allowed ones when none is available
// (the scheduler then reports UNAVAILABLE).
int Candidates(const PolicyInput& in, std::array<Tier, kNumTiers>& out) {
  TierSet set = in.available.Empty() ? in.allowed : in.available;
  int n = 0;
  for (Tier t : AllTiers()) {
    if (set.Contains(t)) out[n++] = t;
  }
  return n;
}

Tier FirstAllowed(const PolicyInput& in) {
  for (Tier t : AllTiers()) {
    if (in.allowed.Contains(t)) return t;
  }
  return AllTiers()[0];
}

}  // namespace

Choice FixedTierPolicy::Choose(const PolicyInput& in) {
  const TierSet mine = in.allowed.Intersect(Targets().OfClass(tier_));
  if (mine.Empty()) return {FirstAllowed(in), Reason::kFailover, false};
  const TierSet open = mine.Intersect(in.available);
  const TierSet candidates = open.Empty() ? mine : open;
  // Several targets of the tier: each is tried once (unless its first
  // request is on its way), then the one predicted fastest.
  std::optional<Tier> best;
  for (Tier t : AllTiers()) {
    if (!candidates.Contains(t)) continue;
    const Prediction& p = in.predictions[TierIndex(t)];
    if (!p.measured && !in.first_pending.Contains(t)) return {t, Reason::kPolicy, false};
    if (!best || (p.measured && (!in.predictions[TierIndex(*best)].measured ||
                                 p.ms < in.predictions[TierIndex(*best)].ms))) {
      best = t;
    }
  }
  return {*best, Reason::kPolicy, false};
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
