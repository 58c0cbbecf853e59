// A placement policy is the rule that picks a tier for one invocation, given
// what the scheduler knows at that moment. The PlacementScheduler owns the
// state (estimates, circuits, counters) and asks its current policy; the
// policies themselves are small strategies with no per-function state.
//
//   fixed_policies.h       edge_only, cloud_only, round_robin, random
//   predictive_policies.h  predictive, slo, weighted
//
// Thread safety: Choose is called concurrently from every gateway thread;
// implementations are const or use atomics only.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "scheduler/decision.h"
#include "scheduler/latency_model.h"
#include "scheduler/policy_config.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

// A lock-free random source shared by all threads: SplitMix64 over an atomic
// counter, so one seed gives one deterministic sequence on a single thread.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n), n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  std::atomic<uint64_t> state_;
};

// Per-request cost and energy of a tier, in relative units, for the
// weighted policy; the gateway takes them from --tier-cost/--tier-energy
// (or the YAML config). The defaults: the edge is already paid for (cost 0)
// but runs on a less efficient CPU (energy 1); a cloud request costs 1 and,
// on an accelerator, 0.2 of the edge's energy.
struct TierFigures {
  std::array<double, kNumTiers> cost = {0.0, 1.0};    // indexed by TierIndex
  std::array<double, kNumTiers> energy = {1.0, 0.2};  // indexed by TierIndex

  // The defaults above for every target of `targets`, by its tier.
  static TierFigures For(const TargetTable& targets) {
    TierFigures f;
    for (Tier t : targets.all()) {
      const bool edge = targets.at(t).tier == TierClass::kEdge;
      f.cost[TierIndex(t)] = edge ? 0.0 : 1.0;
      f.energy[TierIndex(t)] = edge ? 1.0 : 0.2;
    }
    return f;
  }
};

struct PolicyInput {
  TierSet allowed;    // the function's tiers (never empty)
  TierSet available;  // allowed tiers whose circuit admits a request now
  const Features* features = nullptr;
  // Per tier; `measured` is false for tiers without a successful outcome.
  std::array<Prediction, kNumTiers> predictions{};
  // Available tiers that may be probed now (Exploration::Explorable: owed
  // follow-ups, or not used lately within the explore_budget).
  TierSet explorable;
  // Unmeasured tiers whose first request is still on its way
  // (Exploration::FirstPending): not worth a second one yet.
  TierSet first_pending;
  const PolicyConfig* config = nullptr;
  Rng* rng = nullptr;
};

struct Choice {
  Tier tier = Tier::kEdge;
  Reason reason = Reason::kPolicy;
  // When `tier` cannot take the request (circuit open, probe taken), may
  // the scheduler use another available tier (reason failover)? Fixed
  // policies say no: the operator asked for that tier.
  bool may_fail_over = true;
};

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;
  PlacementPolicy(const PlacementPolicy&) = delete;
  PlacementPolicy& operator=(const PlacementPolicy&) = delete;

  // Never fails; when nothing is available it still names a tier and the
  // scheduler reports UNAVAILABLE.
  virtual Choice Choose(const PolicyInput& in) = 0;

 protected:
  PlacementPolicy() = default;
};
using PlacementPolicyPtr = std::unique_ptr<PlacementPolicy>;

// The strategy for `config.policy`.
PlacementPolicyPtr MakePlacementPolicy(const PolicyConfig& config, const TierFigures& figures = {});

}  // namespace stoa::scheduler
