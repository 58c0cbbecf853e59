// PlacementScheduler: the feedback-control Scheduler of DESIGN.md
// § Scheduler. Per function × tier it keeps a LatencyModel (net, queue,
// cold and exec terms learned online, latency_model.h); per tier a circuit
// breaker (circuit_breaker.h); and asks the current PlacementPolicy
// strategy (placement_policy.h) — the function's override, else the global
// policy — to pick a tier. On top of the policy's choice:
//   exploration  a tier neither chosen nor observed (shadow runs count) for
//                kStaleUs is probed (reason explore) within a two-sided
//                budget per function: probes stay within explore_budget of
//                its decisions, and their predicted cost (the probed tier's
//                predicted mean − the best tier's) within explore_budget of
//                the best tier's predicted latency summed over its
//                decisions. A tier known to be much slower is thus probed
//                rarely (76 ms worse while the best takes 17 ms: once per
//                ~220 decisions at budget 0.02), one nearly as fast often;
//                exploration adds at most ~explore_budget to mean latency.
//                Link changes reach the net term through ObserveLink without
//                any probe. A probe that finds the tier much faster than
//                predicted earns kFollowUps immediate probes. A tier never
//                measured is tried once (the policy's first_pending keeps
//                further requests off it while that one is in flight, up
//                to kStaleUs);
//   hedging      policy hedge=true, the choice was predicted-best and the
//                predicted gap to the runner-up is smaller than their
//                combined uncertainty: Decision::hedge names the runner-up,
//                reason hedge (the dispatcher runs both, first answer wins);
//   shadow       with probability shadow_rate, Decision::shadow names every
//                other available tier (the dispatcher runs them too and
//                reports back through ObserveComparison).
//
// Decide: returns UNAVAILABLE ("no tier available for 'f': edge: …; cloud:
// …") when no allowed tier's circuit admits a request, or when a fixed
// policy's tier (edge_only, cloud_only) is open — fixed policies do not fail
// over. Otherwise, when the policy's tier cannot take the request and
// another allowed tier can, that one is returned with reason failover. An
// empty `allowed` set is INVALID_ARGUMENT.
// Observe: a success, or a failure that is not a tier failure (the tier
// answered), closes a half-open circuit; a tier failure counts towards
// opening it. Only successful outcomes update the latency model. Decisions
// with reason forced are made by the caller, not Decide, so Observe counts
// them in the placement statistics (shadow outcomes are not counted).
//
// Thread safety: every method may be called concurrently. Decide and
// Observe take no global lock: function state lives in kShards shards (a
// mutex per shard held only for the map lookup), each function × tier model
// has its own mutex, counters are atomics, and policies are shared_ptrs
// swapped atomically.
//
// Metrics (when a registry is given; it must outlive the scheduler):
// stoa_placements_total{function,tier,reason} (counter),
// stoa_predicted_latency_seconds{function,tier} (gauge),
// stoa_prediction_error_seconds{function,tier,term} (histogram of the
// absolute one-step error of each term), stoa_placement_accuracy_ratio
// {function} (gauge, from shadow comparisons),
// stoa_placement_regret_seconds_total{function} (counter). The clock must
// outlive the scheduler too.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
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
#include "scheduler/streaming_stats.h"

namespace stoa::scheduler {

struct SchedulerOptions {
  // Tiers reached without a network (the in-process edge): no net term.
  TierSet in_process;
  TierFigures figures;
};

class PlacementScheduler final : public Scheduler {
 public:
  // A tier not chosen for this long may be probed (within the budget).
  static constexpr int64_t kStaleUs = 250'000;
  // Weight of the newest link probe in the tier's smoothed round trip.
  static constexpr double kLinkWeight = 0.3;
  // After a probe finds a tier much faster than predicted (and after the
  // first measurement of a tier whose warm latency is within twice the
  // other tier's prediction, so its regressions see more than one request
  // size), up to this many more probes go there at once, outside the
  // routine budget: a change costs at most this many extra probes.
  static constexpr int kFollowUps = 3;
  static constexpr int kShards = 16;

  // `seed` drives the random policy and the shadow draws (deterministic on
  // one thread).
  PlacementScheduler(const common::Clock& clock, common::metrics::Registry* metrics, uint64_t seed,
                     const PolicyConfig& policy = {}, SchedulerOptions options = {});
  ~PlacementScheduler() override;

  double PredictMs(std::string_view function, Tier tier, const Features& features) override;
  absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                  const Features& features) override;
  void Observe(std::string_view function, const Decision& decision,
               const Outcome& outcome) override;
  void ObserveComparison(std::string_view function, Tier chosen,
                         const std::array<double, kNumTiers>& latency_ms) override;
  // Smooths the round trips per tier (kLinkWeight) into the net term's
  // input, and jumps to the newest when two probes in a row sit far on one
  // side (the link changed); a failed probe is a tier failure for the
  // circuit.
  void ObserveLink(Tier tier, bool ok, double rtt_ms) override;
  void Forget(std::string_view function) override;
  void SetPolicy(const PolicyConfig& policy) override;
  PolicyConfig GetPolicy() const override;
  void SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) override;
  void ClearFunctionPolicy(std::string_view function) override;
  std::optional<PolicyConfig> GetFunctionPolicy(std::string_view function) const override;
  // {"policy":{…}, "tiers":{"edge":{"circuit":"closed|open|half_open",
  //  "consecutive_failures":n, "link_rtt_ms":x|null}, …}, "functions":{name:{"policy_override":
  //  {…}|null, "accuracy":{"comparisons":n,"correct":n,"ratio":x|null,
  //  "regret_ms":x}, "edge":{"observations":n, "predicted_ms":x (last
  //  decision), "last_latency_ms":x, "recent_ms":[last 8 latencies],
  //  "prediction":{"mean_ms","p95_ms",
  //  "terms":{"net":{"mean_ms","p95_ms"},…}} (for a cold call of the last
  //  size on an idle tier), "model":{"rtt_ms","ms_per_kb","service_ms",
  //  "cold_window","exec":[β0,β1,β2]}, "errors":{term:{"mean_abs_ms",
  //  "last_ms","count"}}, "decisions":{reason:count}}, "cloud":{…}}}};
  // values not known yet are null.
  std::string StateJson() const override;

 private:
  struct FunctionState;
  struct ActivePolicy {
    PolicyConfig config;
    PlacementPolicyPtr strategy;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<FunctionState>> functions ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, std::shared_ptr<const ActivePolicy>> overrides
        ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<const ActivePolicy> MakeActive(const PolicyConfig& policy) const;
  std::shared_ptr<const ActivePolicy> PolicyFor(std::string_view function) const;
  Shard& ShardFor(std::string_view function) const;
  std::shared_ptr<FunctionState> FindOrCreate(std::string_view function);
  std::shared_ptr<FunctionState> MakeFunctionState(std::string_view function);
  ModelInput InputFor(Tier t, const Features& features) const;
  // `best_ms`: the lowest predicted mean among the available tiers.
  TierSet Explorable(const FunctionState& state, const PolicyConfig& config, const PolicyInput& in,
                     double best_ms, int64_t now) const;
  void AddExtras(FunctionState& state, const PolicyConfig& config, const PolicyInput& in,
                 int64_t now, Decision& decision);
  absl::Status Unavailable(std::string_view function, TierSet allowed, int64_t now_us,
                           const std::string& why) const;

  const common::Clock& clock_;
  const SchedulerOptions options_;
  Rng rng_;
  // Read with std::atomic_load, replaced with std::atomic_store (libstdc++ 12's
  // std::atomic<std::shared_ptr> load unlocks with relaxed order: a data race).
  std::shared_ptr<const ActivePolicy> policy_;
  std::array<CircuitBreaker, kNumTiers> circuits_;
  // Smoothed probed round trip per tier, ms (NaN until the first probe);
  // read lock-free by Decide, written under link_mu_.
  std::array<std::atomic<double>, kNumTiers> link_rtt_ms_;
  struct LinkTrack {
    double mean_abs_dev = 0.0;
    StepDetector step;
  };
  absl::Mutex link_mu_;
  std::array<LinkTrack, kNumTiers> link_track_ ABSL_GUARDED_BY(link_mu_);
  mutable std::array<Shard, kShards> shards_;
  common::metrics::Family<common::metrics::Counter>* placements_ = nullptr;
  common::metrics::Family<common::metrics::Gauge>* predicted_ = nullptr;
  common::metrics::Family<common::metrics::Histogram>* errors_ = nullptr;
  common::metrics::Family<common::metrics::Gauge>* accuracy_ = nullptr;
  common::metrics::Family<common::metrics::Counter>* regret_ = nullptr;
};

}  // namespace stoa::scheduler
