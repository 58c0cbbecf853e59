// The Scheduler decides, per invocation, which tier runs it, and learns from
// every outcome (DESIGN.md § Scheduler). The gateway calls Decide before
// dispatching and Observe when the result (or failure) is known. The
// policies it decides by live in a PolicyStore (policy_store.h); what it
// knows is presented through Snapshot (scheduler_snapshot.h).
//
// Thread safety: every method is called concurrently from every gateway
// thread; Decide and Observe are lock-free or sharded (never one global
// lock) and take microseconds.
#pragma once

#include <array>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/decision.h"
#include "scheduler/scheduler_snapshot.h"
#include "scheduler/tier.h"

namespace stoa::scheduler {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Chooses a tier among `allowed` for `function`; the decision's tier,
  // hedge and shadow tiers are all in `allowed`. `allowed` must not be
  // empty: the caller knows the function's tiers and answers a request
  // that has none itself (an empty set is a caller bug and CHECK-fails).
  // Returns UNAVAILABLE when no allowed tier can take the request (every
  // circuit open, or a fixed policy's tier open).
  virtual absl::StatusOr<Decision> Decide(std::string_view function, TierSet allowed,
                                          const Features& features) = 0;
  // The model's predicted end-to-end latency (ms, per the function's
  // objective) of `function` on `tier`, for a tier the caller chose itself
  // (?tier= on the request). 0 while the tier has no observation. Not a
  // decision: nothing is counted.
  virtual double PredictMs(std::string_view function, Tier tier, const Features& features) = 0;
  // Feeds an outcome back. `decision` is what Decide returned, or the
  // decision the gateway actually used: {t, kFailover} after a failover,
  // {t, kForced} for ?tier=, {t, kShadow} for a shadow run (with
  // Outcome::shadow set), {t, kHedge} for the hedge's second run.
  virtual void Observe(std::string_view function, const Decision& decision,
                       const Outcome& outcome) = 0;
  // Shadow measurement: the same request ran on several tiers;
  // `latency_ms[TierIndex(t)]` is what tier t took (NaN: not run or failed).
  // Counts whether `chosen` was the fastest (placement accuracy) and by how
  // much it was not (regret).
  virtual void ObserveComparison(std::string_view function, Tier chosen,
                                 const std::array<double, kNumTiers>& latency_ms) = 0;
  // A background probe of a tier's executor (the gateway's periodic
  // GetStatus): `ok` false when it failed (counts towards the tier's
  // circuit); otherwise `rtt_ms` is its round trip, a request with no
  // payload, which tracks the link while no function is sent there.
  virtual void ObserveLink(Tier tier, bool ok, double rtt_ms) = 0;
  // A status probe's report of the tier's CPU quota in cores (0: none or
  // unknown; GetStatusResponse.cpu_quota_cores). Default: ignored.
  virtual void ObserveCpuQuota(Tier /*tier*/, double /*cores*/) {}
  // A status probe's GetStatusResponse.cpu_throttled (throttled seconds
  // per second of the executor's CPU group) and cpu_used_cores (cores the
  // executor itself used meanwhile) for `tier`. Default: ignored.
  virtual void ObserveCpuThrottle(Tier /*tier*/, double /*throttled*/, double /*used_cores*/) {}
  // Forgets what was learned about a function (deleted or new version);
  // its policy override, if any, stays.
  virtual void Forget(std::string_view function) = 0;

  // What the scheduler knows now, for GET /v1/scheduler/state.
  virtual SchedulerSnapshot Snapshot() const = 0;

 protected:
  Scheduler() = default;
};
using SchedulerPtr = std::unique_ptr<Scheduler>;

}  // namespace stoa::scheduler
