// The Dispatcher carries one invocation from the REST layer to an executor
// and back: it asks the scheduler for a tier, pushes the function to that
// tier's executor when it is not loaded there yet (the cold start), invokes,
// fails over to the other tier when the chosen one is down, and feeds every
// outcome back to the scheduler and the metrics.
//
//   Invoke(fn, request, forced, done)
//     tiers   = fn.spec.tiers (default edge+cloud) ∩ tiers with an executor
//     forced  → that tier (INVALID_ARGUMENT if the function does not allow
//               it, UNAVAILABLE if this gateway has no executor for it);
//               no failover for a forced tier
//     else    → scheduler.Decide(name, tiers, {bytes, batch, warm tiers})
//     not known loaded on the tier → LoadFunction, then Invoke
//     Invoke says NOT_FOUND (the executor restarted) → load, retry once
//     UNAVAILABLE / DEADLINE_EXCEEDED from a tier (a tier failure) while
//     another allowed tier is untried and time remains → Observe the
//     failure, retry there with reason kFailover
//     Decision.hedge (reason hedge) → the same request also runs on the
//     hedge tier; the first success answers, a failure waits for the other
//     run; neither fails over. The first success cancels the other run
//     (executors::CancelSignal: a gRPC cancellation reaching the remote
//     executor, which skips the work if still queued; a queued in-process
//     run is skipped); the loser ends CANCELLED, counted in
//     stoa_invocations_total{outcome="cancelled"} and
//     stoa_hedge_cancelled_total{function,tier}, and teaches the model
//     nothing (its latency is only known to exceed the winner's).
//     Decision.shadow → also runs on those tiers (Outcome.shadow, answers
//     dropped); when every run of the invocation has finished, their
//     latencies go to Scheduler::ObserveComparison (placement accuracy).
//
// Deadline: limits.timeout_ms of the function (Options::default_timeout_ms
// when 0) from the moment Invoke is called. Each executor call gets the
// remaining budget in InvokeRequest.timeout_ms, and a watchdog answers
// DEADLINE_EXCEEDED when an executor has not answered shortly after the
// deadline, so no caller waits much past it whatever the executor does.
//
// Tier status: every Options::status_interval_ms (0: never) a background
// thread asks each configured tier's executor for GetStatus (one request
// in flight per tier): the queue depth it reports feeds the queue term
// between responses, the round trip goes to Scheduler::ObserveLink (the net
// term follows the link without sending functions there), and a failure
// counts towards the tier's circuit.
//
// Metrics (registry injected): stoa_invocations_total{function,tier,outcome}
// per attempt (outcome: ok, invalid, not_found, unavailable, timeout,
// cancelled, error), stoa_invocation_duration_seconds{function,tier} for
// successful attempts, stoa_cold_starts_total{function,tier},
// stoa_executor_queue_depth{tier}, stoa_hedge_cancelled_total{function,
// tier}, stoa_tier_status_rtt_seconds{tier} (last status round trip).
//
// Thread safety: all methods are thread-safe. `done` is called exactly once,
// on an executor or watchdog thread (or the caller's for immediate errors).
// Ownership: owns the executors; the scheduler, clock and metrics registry
// must outlive the dispatcher. The destructor waits for executor calls in
// flight to come back.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "executors/executor.h"
#include "gateway/function_registry.h"
#include "scheduler/scheduler.h"
#include "stoa/v1/executor.pb.h"

namespace stoa::gateway {

struct DispatchResult {
  v1::InvokeResponse response;  // load_us set to the cold start of this call
  scheduler::Tier tier = scheduler::Tier::kEdge;
  scheduler::Reason reason = scheduler::Reason::kPolicy;
  double predicted_ms = 0.0;
  double latency_ms = 0.0;  // from Invoke() to the result, all attempts
  bool cold_start = false;
};
using DispatchCallback = std::function<void(absl::StatusOr<DispatchResult>)>;

// Per function and tier, what this gateway has seen.
struct TierStats {
  bool configured = false;
  bool loaded = false;  // the current version is known loaded there
  uint64_t invocations = 0;
  uint64_t failures = 0;
  uint64_t cold_starts = 0;
  double mean_latency_ms = 0.0;  // of successful invocations
};

class Dispatcher {
 public:
  struct Options {
    uint32_t default_timeout_ms = 10000;
    // How long after the deadline the watchdog waits for a late executor.
    uint32_t watchdog_grace_ms = 20;
    // Period of the GetStatus probes of every tier; 0 turns them off.
    uint32_t status_interval_ms = 500;
  };

  // `executors[TierIndex(t)]` runs tier t; nullptr: the tier is absent.
  Dispatcher(std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors,
             scheduler::Scheduler& scheduler, const common::Clock& clock,
             common::metrics::Registry& metrics, Options options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Invoke(const StoredFunction& function, v1::InvokeRequest request,
              std::optional<scheduler::Tier> forced, DispatchCallback done);

  // A function was deleted or replaced: unloads `sha256` ("" = every
  // version) of it from every executor (best effort, logged), forgets what
  // is known about it here and in the scheduler.
  void Forget(const std::string& function, const std::string& sha256);

  scheduler::TierSet configured_tiers() const { return configured_; }
  std::string DescribeTier(scheduler::Tier tier) const;  // "" when absent
  std::array<TierStats, scheduler::kNumTiers> Stats(const std::string& function,
                                                    const std::string& sha256) const;

 private:
  struct Call;
  struct Group;
  class Watchdog;
  class StatusPoller;

  void Start(std::shared_ptr<Call> call);
  void Launch(std::shared_ptr<Call> call);
  void StartGroup(std::shared_ptr<Call> call, const scheduler::Decision& decision);
  void FinishRun(const std::shared_ptr<Group>& group, scheduler::Tier tier, bool answers,
                 absl::StatusOr<DispatchResult> result);
  void RunOn(std::shared_ptr<Call> call);
  void Load(std::shared_ptr<Call> call);
  void DoInvoke(std::shared_ptr<Call> call);
  void Fail(std::shared_ptr<Call> call, absl::Status status);
  void Succeed(std::shared_ptr<Call> call, v1::InvokeResponse response);
  void TimedOut(std::shared_ptr<Call> call);
  void Count(const std::string& function, scheduler::Tier tier, const char* outcome);
  // True for exactly one caller per call, the one that answers `done`; it
  // also drops the call's watchdog entry.
  bool ClaimAnswer(Call& call);
  // One GetStatus round to every configured tier (StatusPoller).
  void PollTiers();

  bool IsLoaded(scheduler::Tier tier, const std::string& key) const;
  void SetLoaded(scheduler::Tier tier, const std::string& key, bool loaded);
  void BeginOp();
  void EndOp();

  std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors_;
  scheduler::TierSet configured_;
  scheduler::Scheduler& scheduler_;
  const common::Clock& clock_;
  const Options options_;

  common::metrics::Family<common::metrics::Counter>& invocations_;
  common::metrics::Family<common::metrics::Histogram>& duration_;
  common::metrics::Family<common::metrics::Counter>& cold_starts_;
  common::metrics::Family<common::metrics::Counter>& hedge_cancelled_;
  std::array<common::metrics::Gauge*, scheduler::kNumTiers> queue_depth_;
  std::array<common::metrics::Gauge*, scheduler::kNumTiers> status_rtt_;
  std::array<std::atomic<bool>, scheduler::kNumTiers> polling_{};
  // Fed to the scheduler's queue term: this gateway's executor calls in
  // flight per tier, and the queue depth each tier last reported.
  std::array<std::atomic<uint32_t>, scheduler::kNumTiers> in_flight_{};
  std::array<std::atomic<uint32_t>, scheduler::kNumTiers> reported_depth_{};

  mutable absl::Mutex mu_;
  // "function@sha256" known loaded, per tier.
  std::array<absl::flat_hash_set<std::string>, scheduler::kNumTiers> loaded_ ABSL_GUARDED_BY(mu_);
  // "function@sha256" → per tier stats.
  absl::flat_hash_map<std::string, std::array<TierStats, scheduler::kNumTiers>> stats_
      ABSL_GUARDED_BY(mu_);
  int ops_in_flight_ ABSL_GUARDED_BY(mu_) = 0;

  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<StatusPoller> poller_;  // last: stopped first
};

}  // namespace stoa::gateway
