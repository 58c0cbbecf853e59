// PlacementScheduler: the feedback-control Scheduler of DESIGN.md
// § Scheduler, and the PolicyStore it decides by. Per function × tier it
// keeps a LatencyModel (net, queue, cold and exec terms learned online,
// latency_model.h); per function its exploration state (exploration.h); per
// tier a circuit breaker (circuit_breaker.h) and the link's probed round
// trip (link_tracker.h); and asks the current PlacementPolicy strategy
// (placement_policy.h) — the function's override, else the global policy —
// to pick a tier. On top of the policy's choice:
//   exploration  a never-measured tier is tried once (reason explore).
//                With stale_probe shadow (the default; model-based
//                policies only) a tier gone stale is refreshed by a shadow
//                run (Exploration::StaleShadows; no latency cost), with
//                follow-up shadows after one found it changed; with
//                stale_probe route the policies send the request itself
//                to the tiers Exploration::Explorable allows (reason
//                explore): stale tiers within explore_budget, follow-ups.
//                Link changes reach the net term through ObserveLink
//                without any probe;
//   hedging      policy hedge=true, the choice was predicted-best and the
//                predicted gap to the runner-up is smaller than their
//                combined uncertainty: Decision::hedge names the runner-up,
//                reason hedge (the dispatcher runs both, first answer wins);
//   backup       policy late_hedge=true (the default), a predicted-best or
//                explore choice, and a measured runner-up: Decision::backup
//                names it, due FarLateMs(chosen prediction) after the start.
//                The dispatcher runs the request there too only if the
//                chosen tier has not answered by then (reason backup). A
//                wrong choice then costs about the wait plus the runner-up's
//                latency, not the slow tier's whole latency;
//   shadow       with probability shadow_rate, Decision::shadow names every
//                other available tier (the dispatcher runs them too and
//                reports back through ObserveComparison).
//
// Decide: returns UNAVAILABLE ("no tier available for 'f': edge: …; cloud:
// …") when no allowed tier's circuit admits a request, or when a fixed
// policy's tier (edge_only, cloud_only) is open — fixed policies do not fail
// over. Otherwise, when the policy's tier cannot take the request and
// another allowed tier can, that one is returned with reason failover. An
// empty `allowed` set CHECK-fails (scheduler.h).
// Observe: a success, or a failure that is not a tier failure (the tier
// answered), closes a half-open circuit; a tier failure counts towards
// opening it. Only successful outcomes update the latency model. Decisions
// with reason forced are made by the caller, not Decide, so Observe counts
// them in the placement statistics; shadow runs (IsShadowRun) are never
// counted.
//
// Thread safety: every method may be called concurrently. Decide and
// Observe take no global lock: function state lives in kShards shards (a
// mutex per shard held only for the map lookup), each function × tier model
// has its own mutex, counters are atomics, and policies are shared_ptrs
// swapped atomically.
//
// Metrics (when a registry is given; it must outlive the scheduler):
// stoa_placements_total{function,tier,reason} (counter; reason one of
// kPlacementReasons), stoa_predicted_latency_seconds{function,tier} (gauge),
// stoa_prediction_error_seconds{function,tier,term} (histogram of the
// absolute one-step error of each term), stoa_placement_accuracy_ratio
// {function} (gauge, from shadow comparisons),
// stoa_placement_regret_seconds_total{function} (counter). A function's
// series are created with its state (first Decide/PredictMs/Observe) and
// removed by Forget. The clock must outlive the scheduler too.
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
#include "scheduler/decision_trace.h"
#include "scheduler/exploration.h"
#include "scheduler/placement_policy.h"
#include "scheduler/policy_store.h"
#include "scheduler/scheduler.h"
#include "scheduler/tier_signals.h"

namespace stoa::scheduler {

struct SchedulerOptions {
  // Tiers reached without a network (the in-process edge): no net term.
  TierSet in_process;
  TierFigures figures;
  // Records every decision, outcome and link probe (not owned; must outlive
  // the scheduler). Null: no trace.
  DecisionTrace* trace = nullptr;
};

class PlacementScheduler final : public Scheduler, public PolicyStore {
 public:
  static constexpr int kShards = 16;

  // `seed` drives the random policy and the shadow draws (deterministic on
  // one thread).
  PlacementScheduler(const common::Clock& clock, common::metrics::Registry* metrics, uint64_t seed,
                     const PolicyConfig& policy = {}, SchedulerOptions options = {});
  ~PlacementScheduler() override;

  // Scheduler.
  double PredictMs(std::string_view function, Tier tier, const Features& features) override;
  absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                  const Features& features) override;
  void Observe(std::string_view function, const Decision& decision,
               const Outcome& outcome) override;
  void ObserveComparison(std::string_view function, Tier chosen,
                         const std::array<double, kNumTiers>& latency_ms) override;
  // A successful probe goes to the TierSignals (the net term's link round
  // trip); a failed one is a tier failure for the circuit, counted against
  // the global policy's circuit settings.
  void ObserveLink(Tier tier, bool ok, double rtt_ms) override;
  // To the TierSignals: a raised quota makes the tier's estimates stale (it
  // is shadowed on the next decision), as a probe's drop does.
  void ObserveCpuQuota(Tier tier, double cores) override;
  void ObserveCpuThrottle(Tier tier, double throttled, double used_cores) override;
  void Forget(std::string_view function) override;
  // Functions by name; a function's prediction is for a cold call of its
  // last request size on an idle tier, by its policy's objective.
  SchedulerSnapshot Snapshot() const override;

  // PolicyStore.
  void SetPolicy(const PolicyConfig& policy) override;
  PolicyConfig GetPolicy() const override;
  void SetFunctionPolicy(std::string_view function, const PolicyConfig& policy) override;
  void ClearFunctionPolicy(std::string_view function) override;
  std::optional<PolicyConfig> GetFunctionPolicy(std::string_view function) const override;

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
    // Forget calls so far: FindOrCreate rebuilds a state that raced one.
    uint64_t forgets ABSL_GUARDED_BY(mu) = 0;
  };

  std::shared_ptr<const ActivePolicy> MakeActive(const PolicyConfig& policy) const;
  std::shared_ptr<const ActivePolicy> PolicyFor(std::string_view function) const;
  Shard& ShardFor(std::string_view function) const;
  std::shared_ptr<FunctionState> FindOrCreate(std::string_view function);
  std::shared_ptr<FunctionState> MakeFunctionState(std::string_view function);
  ModelInput InputFor(Tier t, const Features& features) const;
  // Fills in.predictions for the allowed tiers and records them as the
  // tiers' last predictions.
  void Predict(FunctionState& state, const Features& features, Objective objective,
               PolicyInput& in) const;
  // The policy's choice if its tier admits the request, else a failover to
  // another available tier; UNAVAILABLE when neither can be had.
  absl::StatusOr<Decision> Admit(std::string_view function, const PolicyConfig& config,
                                 const PolicyInput& in, const Choice& choice, int64_t now);
  // Answers a tier needs before its prediction alone decides: one answer
  // of a quota-limited executor is one time slice's luck or bad luck
  // (quota-flips QI1: the 0.05-core edge's first answer, a shadow at run
  // start, took 45 ms; the next two requests went there and took 219 and
  // 336 ms while the cloud answered their late backups in 38-45 ms, 234 ms
  // of the run's 706 ms of decision cost).
  static constexpr uint64_t kWarmUpRuns = 2;
  // hedge: names the runner-up when it is within the uncertainty of the
  // choice; evidence_hedge: names it, both runs kept, when the choice is
  // saturated (TierSignals::Saturated), its quota was cut within the last
  // second (TierSignals::SentAfterSlowerEvidence) or, either tier's
  // executor under a CPU quota, either has answered fewer than
  // kWarmUpRuns times, or its own runs hold it to its quota
  // (TierSignals::QuotaBound) and its exec term at the quota's pace is
  // slower than the runner-up; and, first answer wins, when the runner-up
  // is saturated but its last probe came back near its link's floor
  // (TierSignals::ProbedBack).
  void AddHedge(Exploration& exploration, const PolicyConfig& config, const PolicyInput& in,
                int64_t now, Decision& decision);
  // late_hedge: names the runner-up as the decision's backup, due at
  // FarLateMs of the chosen tier's prediction.
  static void AddBackup(const PolicyConfig& config, const PolicyInput& in, Decision& decision);
  void AddShadow(const PolicyConfig& config, const PolicyInput& in, Decision& decision);
  // stale_probe shadow: adds the tiers Exploration::StaleShadows names.
  void AddStaleShadows(Exploration& exploration, const PolicyConfig& config, const PolicyInput& in,
                       double best_ms, int64_t now, Decision& decision);
  absl::Status Unavailable(std::string_view function, TierSet allowed, int64_t now_us,
                           const std::string& why) const;
  FunctionSnapshot SnapshotOf(const std::string& name, const FunctionState& state,
                              Objective global) const;

  const common::Clock& clock_;
  const SchedulerOptions options_;
  Rng rng_;
  // Read with std::atomic_load, replaced with std::atomic_store (libstdc++ 12's
  // std::atomic<std::shared_ptr> load unlocks with relaxed order: a data race).
  std::shared_ptr<const ActivePolicy> policy_;
  std::array<CircuitBreaker, kNumTiers> circuits_;
  TierSignals signals_;
  mutable std::array<Shard, kShards> shards_;
  common::metrics::Family<common::metrics::Counter>* placements_ = nullptr;
  common::metrics::Family<common::metrics::Gauge>* predicted_ = nullptr;
  common::metrics::Family<common::metrics::Histogram>* errors_ = nullptr;
  common::metrics::Family<common::metrics::Gauge>* accuracy_ = nullptr;
  common::metrics::Family<common::metrics::Counter>* regret_ = nullptr;
};

}  // namespace stoa::scheduler
