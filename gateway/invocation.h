// Invocation: one request's run on the tiers, as a state machine with one
// verb per stage:
//
//   Start(decision) ─▶ Attempt(tier) ─▶ [Load] ─▶ Run ─▶ Succeed ─▶ answer
//                           ▲             │         │
//                           │             ▼         ▼
//                           └────────── Fail ◀──────┘ ─▶ answer
//                        (FailOver)       ▲
//                                    TimedOut (the watchdog)
//
//   Attempt   the function version is not known loaded on the tier → Load
//             (LoadFunction: the cold start), else Run.
//   Run       Executor::Invoke with the remaining budget as timeout_ms.
//             NOT_FOUND (the executor restarted and lost the function) →
//             Load and Run again, once.
//             A pipeline chain (InvocationRequest::chain) loads every
//             stage first, and its success is observed per stage
//             (gateway/pipeline_chain.h: ObserveChain).
//   Fail      a tier failure (the tier is unreachable: UNAVAILABLE) on an
//             answering, unforced run, with another allowed tier untried
//             and time left → FailOver: Attempt there with reason failover.
//             An executor refusing the call from its queue (common/
//             overload.h: RESOURCE_EXHAUSTED, executor queue limit or wait)
//             fails over the same way but is no tier failure; unanswered
//             elsewhere, it is UNAVAILABLE (503, tier saturated) with
//             Retry-After 1.
//             A function's own failure (bad input, its own deadline
//             passing inside the executor, a trap) is answered as it is:
//             another tier would fail the same way, and it says nothing
//             about the tier's health.
//   TimedOut  the watchdog fired: the executor has not answered shortly
//             after the deadline (it is wedged or the link stalled): a tier
//             failure, answered DEADLINE_EXCEEDED.
//   Succeed / Fail / TimedOut: exactly one of them answers (Claim); each
//   attempt's end goes to the scheduler as one scheduler::Outcome, built in
//   one place (MakeOutcome).
//
// Roles: kPrimary answers and may fail over; kHedge answers but stays on
// its tier; kShadow only measures (its answer is dropped, its outcome is
// marked shadow). A run whose CancelSignal fires (the losing run of a hedge,
// or any run of a request whose client went away: client_cancel) ends
// CANCELLED, counted as cancelled (and, for a losing hedge, in
// stoa_hedge_cancelled_total), and teaches the scheduler nothing.
//
// Thread safety: an invocation is driven by one executor callback at a time
// plus the watchdog; the attempt's decision and start are under a mutex,
// the answer is claimed with an atomic. Ownership: shared_ptr, held by the
// pending executor callback and (weakly) by the watchdog.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "executors/cancel_signal.h"
#include "gateway/admission.h"
#include "gateway/deadline_watchdog.h"
#include "gateway/invoker.h"
#include "gateway/loaded_functions.h"
#include "gateway/tier_monitor.h"
#include "scheduler/scheduler.h"
#include "stoa/v1/executor.pb.h"
#include "stoa/v1/function.pb.h"

namespace stoa::gateway {

// The metric families every invocation updates.
struct InvocationMetrics {
  explicit InvocationMetrics(common::metrics::Registry& registry);
  // stoa_invocations_total{function,tier,outcome}, outcome as
  // common::OutcomeLabel names it.
  void Count(const std::string& function, scheduler::Tier tier, const absl::Status& status);
  // Drops the function's series from these families (it was deleted or
  // replaced). An invocation still in flight may add some back.
  void Forget(const std::string& function);
  // The labels every family here has: {function, tier, target}.
  static common::metrics::Labels Labels(const std::string& function, scheduler::Tier tier);

  common::metrics::Family<common::metrics::Counter>& invocations;
  common::metrics::Family<common::metrics::Histogram>& duration;
  common::metrics::Family<common::metrics::Counter>& cold_starts;
  common::metrics::Family<common::metrics::Counter>& hedge_cancelled;
  common::metrics::Family<common::metrics::Counter>& backups;
};

// What every invocation of one dispatcher shares.
struct DispatchContext {
  scheduler::Scheduler& scheduler;
  const common::Clock& clock;
  TierMonitor& tiers;
  LoadedFunctions& loaded;
  DeadlineWatchdog& watchdog;
  InvocationMetrics& metrics;
  // Told of an executor's own saturation refusals (ExecutorRefused).
  Admission& admission;
  // How long after the deadline the watchdog waits for a late executor.
  uint32_t watchdog_grace_ms = 20;
};

// A stage a pipeline chains after the request's function in the same
// executor call (InvokeRequest.chain, gateway/pipeline_chain.h): loaded on
// the tier before the call like the function itself, and observed by the
// scheduler as its own outcome.
struct ChainMember {
  std::string name;
  std::string key;  // LoadedFunctions::Key(name, sha256)
  v1::FunctionSpec spec;
  std::string artifact_path;
};

// The request as every run of it sees it (shared by the runs of a group).
struct InvocationRequest {
  std::string name;
  std::string key;  // LoadedFunctions::Key(name, sha256)
  v1::FunctionSpec spec;
  std::string artifact_path;  // the registry's file (StoredFunction::artifact_path)
  v1::InvokeRequest request;
  uint64_t request_bytes = 0;
  uint32_t batch = 1;
  int64_t start_us = 0;
  int64_t deadline_us = 0;
  uint32_t timeout_ms = 0;
  scheduler::TierSet allowed;  // the function's tiers this gateway has
  bool forced = false;         // ?tier= chose the tier: no failover
  // The caller's withdrawal (the HTTP request's signal; nullable): when it
  // fires, every run of the request is cancelled.
  common::CancelSignalPtr client_cancel;
  // A pipeline chain's later stages (empty: a plain call).
  std::vector<ChainMember> chain;
};

class Invocation : public std::enable_shared_from_this<Invocation> {
 public:
  enum class Role { kPrimary, kHedge, kShadow };

  // Runs `request` starting on `decision.tier`; `done` is called exactly
  // once. `cancel` (may be null) withdraws the run.
  static void Start(DispatchContext& context, std::shared_ptr<const InvocationRequest> request,
                    const scheduler::Decision& decision, Role role,
                    executors::CancelSignalPtr cancel, DispatchCallback done);

  Invocation(DispatchContext& context, std::shared_ptr<const InvocationRequest> request, Role role,
             executors::CancelSignalPtr cancel, DispatchCallback done);

 private:
  struct AttemptInfo {
    scheduler::Decision decision;
    int64_t start_us = 0;
  };

  void Attempt(const scheduler::Decision& decision);
  // Loads the first of the request's function and its chain that `tier`
  // lacks, then the next, then Runs.
  void Load();
  // Whether the function and every chained stage are loaded on `tier`.
  bool AllLoaded(scheduler::Tier tier) const;
  void Run();
  void Succeed(v1::InvokeResponse response);
  void Fail(absl::Status status);
  bool FailOver(const absl::Status& status, int64_t now_us);
  void Cancelled(const absl::Status& status);
  // Whether the request's own signal fired (not only this run's).
  bool ClientGone() const;
  std::string CancelReason() const;
  void TimedOut();
  // Answers `status` (INTERNAL from an exception caught at an executor's
  // callback) unless another path answered already.
  void Abandon(const absl::Status& status);
  // Runs `body` for an executor's answer; an exception it throws is
  // abandoned as INTERNAL, never returned to the executor's thread.
  template <typename Body>
  void Guarded(Body&& body);

  scheduler::Outcome MakeOutcome(const AttemptInfo& attempt, int64_t now_us,
                                 const v1::InvokeResponse* response, bool tier_failure) const;
  AttemptInfo CurrentAttempt();
  scheduler::Tier CurrentTier() { return CurrentAttempt().decision.tier; }
  // True for exactly one caller: the one that answers `done`; it also
  // drops the watchdog's entry.
  bool Claim();
  bool finished() const { return finished_.load(); }

  DispatchContext& context_;
  const std::shared_ptr<const InvocationRequest> request_;
  const Role role_;
  const executors::CancelSignalPtr cancel_;
  DispatchCallback done_;

  absl::Mutex mu_;
  AttemptInfo attempt_ ABSL_GUARDED_BY(mu_);
  DeadlineWatchdog::Token watch_ = 0;

  // Only the attempt chain touches these (one executor call at a time).
  scheduler::TierSet tried_;
  uint64_t load_us_ = 0;
  bool cold_ = false;
  bool reloaded_ = false;
  uint32_t ahead_ = 0;

  std::atomic<bool> finished_{false};
};

}  // namespace stoa::gateway
