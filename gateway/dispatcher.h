// The Dispatcher carries one invocation from the REST layer to an executor
// and back. It places the request and hands it to the parts that run it
// (docs/architecture.md § One invocation):
//
//   Admission            limits.max_concurrency (429) and the tiers' bounded
//                        queues (503), decided before anything waits; the
//                        scheduler only sees the tiers that can take the
//                        request (gateway/admission.h)
//   Dispatcher::Invoke   the function's tiers ∩ configured tiers; a forced
//                        tier (?tier=) is checked (INVALID_ARGUMENT if the
//                        function does not allow it, UNAVAILABLE if this
//                        gateway has no executor for it); else
//                        Scheduler::Decide with the features (bytes, batch,
//                        warm tiers, in-flight and reported depth)
//   Invocation           one run: load on a cold tier, invoke, fail over on
//                        a tier failure, answer (gateway/invocation.h)
//   RunGroup             hedged and shadow runs of one request
//                        (gateway/run_group.h)
//   DeadlineWatchdog     answers DEADLINE_EXCEEDED when an executor has not
//                        answered shortly after the deadline
//   TierMonitor          in-flight calls, reported depth, status probes: the
//                        one owner of tier health (gateway/tier_monitor.h)
//   LoadedFunctions      which versions are loaded where, per-tier stats
//
// Deadline: limits.timeout_ms of the function (Options::default_timeout_ms
// when 0) from the moment Invoke is called; each executor call gets the
// remaining budget in InvokeRequest.timeout_ms.
//
// Metrics (registry injected): stoa_invocations_total{function,tier,outcome}
// per attempt (outcome: common::OutcomeLabel: ok, invalid_argument,
// not_found, unavailable, deadline_exceeded, cancelled, …),
// stoa_invocation_duration_seconds{function,tier} for successful attempts,
// stoa_cold_starts_total{function,tier}, stoa_hedge_cancelled_total
// {function,tier}, and the TierMonitor's stoa_executor_queue_depth{tier},
// stoa_tier_status_rtt_seconds{tier}.
//
// Thread safety: all methods are thread-safe. `done` is called exactly once,
// on an executor or watchdog thread (or the caller's for immediate errors).
// Ownership: owns the executors; the scheduler, clock and metrics registry
// must outlive the dispatcher. The destructor waits for executor calls in
// flight to come back.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "executors/executor.h"
#include "gateway/admission.h"
#include "gateway/deadline_watchdog.h"
#include "gateway/function_registry.h"
#include "gateway/invocation.h"
#include "gateway/invoker.h"
#include "gateway/loaded_functions.h"
#include "gateway/tier_monitor.h"
#include "scheduler/scheduler.h"

namespace stoa::gateway {

class Dispatcher final : public Invoker {
 public:
  struct Options {
    uint32_t default_timeout_ms = 10000;
    // How long after the deadline the watchdog waits for a late executor.
    uint32_t watchdog_grace_ms = 20;
    // Period of the GetStatus probes of every tier; 0 turns them off.
    uint32_t status_interval_ms = 100;
    // > 0 makes the watchdog re-read the clock this often (a FakeClock).
    int64_t watchdog_recheck_us = 0;
    Admission::Options admission;
    // The durable queue's waiting events, counted in the queue term
    // (TierMonitor::Options::queued_work); nullptr: none. Must outlive the
    // dispatcher.
    const events::QueuedWork* queued_work = nullptr;
  };

  // `executors[TierIndex(t)]` runs tier t; nullptr: the tier is absent.
  Dispatcher(std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors,
             scheduler::Scheduler& scheduler, const common::Clock& clock,
             common::metrics::Registry& metrics, Options options);
  ~Dispatcher() override;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Invoke(const StoredFunction& function, v1::InvokeRequest request,
              std::optional<scheduler::Tier> forced, DispatchCallback done,
              common::CancelSignalPtr cancel = nullptr) override;
  // A function was deleted or replaced: unloads `sha256` ("" = every
  // version) of it from every executor (best effort, logged), forgets what
  // is known about it here and in the scheduler, and drops its invocation
  // metric series (stoa_invocations_total, ..._duration_seconds,
  // stoa_cold_starts_total, stoa_hedge_cancelled_total).
  void Forget(const std::string& function, const std::string& sha256) override;
  scheduler::TierSet configured_tiers() const override { return monitor_->configured(); }
  // The monitor's view plus the tier's admission queue.
  TierHealth Health(scheduler::Tier tier) const override;
  FunctionStats Stats(const std::string& function, const std::string& sha256) const override;

  // One round of status probes now (tests; production probes periodically).
  void ProbeTiers() { monitor_->ProbeAll(); }

 private:
  // The first decision for `request`, or why there is none.
  absl::StatusOr<scheduler::Decision> Place(const InvocationRequest& request,
                                            scheduler::TierSet spec_tiers,
                                            std::optional<scheduler::Tier> forced);
  // Admission, then Place, then a place reserved on the decision's tier;
  // narrows request.allowed to the tiers that can take it. On success the
  // caller owes ReleaseFunction and Release (Admitted wraps `done` so).
  absl::StatusOr<scheduler::Decision> Admit(InvocationRequest& request,
                                            scheduler::TierSet spec_tiers,
                                            std::optional<scheduler::Tier> forced, double* work_ms);
  DispatchCallback Admitted(const std::string& function, scheduler::Tier tier, double work_ms,
                            DispatchCallback done);
  Admission::Loads Loads() const;

  const std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors_;
  scheduler::Scheduler& scheduler_;
  const common::Clock& clock_;
  const Options options_;
  InvocationMetrics metrics_;
  LoadedFunctions loaded_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<TierMonitor> monitor_;
  std::unique_ptr<DeadlineWatchdog> watchdog_;
  std::unique_ptr<DispatchContext> context_;
};

}  // namespace stoa::gateway
