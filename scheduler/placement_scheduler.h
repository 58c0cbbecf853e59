// PlacementScheduler: the Scheduler of DESIGN.md § Scheduler, first
// version. It keeps, per function × tier, smoothed warm latency and cold
// start cost (tier_estimate.h); per tier, a circuit breaker
// (circuit_breaker.h); and asks the current PlacementPolicy strategy
// (placement_policy.h) to pick a tier.
//
// Decide: returns UNAVAILABLE ("no tier available for 'f': edge: …; cloud:
// …") when no allowed tier's circuit admits a request, or when a fixed
// policy's tier (edge_only, cloud_only) is open — fixed policies do not fail
// over. Otherwise, when the policy's tier cannot take the request and
// another allowed tier can, that one is returned with reason failover. An
// empty `allowed` set is INVALID_ARGUMENT.
// Observe: a success, or a failure that is not a tier failure (the tier
// answered), closes a half-open circuit; a tier failure counts towards
// opening it. Only successful outcomes update the latency estimates.
// Decisions with reason forced are made by the caller, not Decide, so
// Observe counts them in the placement statistics.
//
// Thread safety: every method may be called concurrently. Decide and
// Observe take no global lock: function state lives in kShards shards (a
// mutex per shard held only for the map lookup), estimates and counters are
// atomics, and the policy is a shared_ptr swapped atomically by SetPolicy.
//
// Metrics (when a registry is given; it must outlive the scheduler):
// stoa_placements_total{function,tier,reason} (counter),
// stoa_predicted_latency_seconds{function,tier} (gauge). The clock must
// outlive the scheduler too.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "scheduler/circuit_breaker.h"
#include "scheduler/placement_policy.h"
#include "scheduler/scheduler.h"

namespace stoa::scheduler {

class PlacementScheduler final : public Scheduler {
 public:
  // `seed` drives random and the exploration draws (deterministic on one thread).
  PlacementScheduler(const common::Clock& clock, common::metrics::Registry* metrics, uint64_t seed,
                     const PolicyConfig& policy = {});
  ~PlacementScheduler() override;

  absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                  const Features& features) override;
  void Observe(std::string_view function, const Decision& decision,
               const Outcome& outcome) override;
  void Forget(std::string_view function) override;
  void SetPolicy(const PolicyConfig& policy) override;
  PolicyConfig GetPolicy() const override;
  // {"policy":{…}, "tiers":{"edge":{"circuit":"closed|open|half_open",
  //  "consecutive_failures":n}, "cloud":{…}}, "functions":{name:{"edge":
  //  {"observations":n,"warm_ms":x,"cold_ms":y,"predicted_ms":z,
  //  "last_latency_ms":w,"decisions":{reason:count}}, "cloud":{…}}}};
  // values not known yet are null; predicted_ms is the last prediction made.
  std::string StateJson() const override;

  static constexpr int kShards = 16;

 private:
  struct FunctionState;
  struct ActivePolicy {
    PolicyConfig config;
    PlacementPolicyPtr strategy;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<FunctionState>> functions ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(std::string_view function) const;
  std::shared_ptr<FunctionState> FindOrCreate(std::string_view function);
  std::shared_ptr<FunctionState> MakeFunctionState(std::string_view function);
  absl::Status Unavailable(std::string_view function, TierSet allowed, int64_t now_us,
                           const std::string& why) const;

  const common::Clock& clock_;
  Rng rng_;
  // Read with std::atomic_load, replaced with std::atomic_store (libstdc++ 12's
  // std::atomic<std::shared_ptr> load unlocks with relaxed order: a data race).
  std::shared_ptr<const ActivePolicy> policy_;
  std::array<CircuitBreaker, kNumTiers> circuits_;
  mutable std::array<Shard, kShards> shards_;
  common::metrics::Family<common::metrics::Counter>* placements_ = nullptr;
  common::metrics::Family<common::metrics::Gauge>* predicted_ = nullptr;
};

}  // namespace stoa::scheduler
