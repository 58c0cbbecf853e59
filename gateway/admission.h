// Admission control at the gateway (issue 10; docs/limits.md § Admission
// control): a request is refused at once, before it waits, when
//   - its function is at limits.max_concurrency invocations admitted
//     (running or queued) on this gateway: RESOURCE_EXHAUSTED (429), or
//   - no tier it may run on can take it: on every such tier the queue is
//     full (more than Options::max_queue_per_tier invocations waiting for a
//     worker), or the predicted wait plus the function's own run there
//     exceeds what is left of its deadline: UNAVAILABLE (503).
// Both carry a Retry-After hint (common/overload.h) from the predicted wait
// and a message naming the limit. A tier that cannot take the request is
// left out of the scheduler's choice, so one saturated tier sends the
// request to the other; a forced tier (?tier=) that is saturated is a 503.
//
// The model of a tier t with w workers (GetStatus threads; 1 until probed):
//   admitted(t)  invocations this gateway reserved on t and not yet ended;
//   queued(t)    max(admitted(t) − w, depth t last reported), at least 0;
//   wait(t)      0 while a worker is free, else the larger of
//                ceil((queued(t) + 1) / w) × service(t), where service(t) is
//                the mean (EWMA) run time of what ended on t, and work(t) /
//                w, where work(t) sums run(g, t) (service(t) while unknown)
//                of every invocation admitted there — the running calls are
//                assumed just started, so the estimate errs towards refusing
//                rather than towards timing out, and a fast function mixed
//                in does not hide slow calls ahead;
//   run(f, t)    the mean (EWMA) run time of f on t (0 until one ended).
// Full: queued(t) ≥ limit(t), limit(t) = max_queue_per_tier, or 4 × w when 0.
// Too slow: wait(t) > 0 and wait(t) + run(f, t) > the remaining deadline.
// A tier is saturated (Saturated, /readyz) while its queue is full or for
// kWaitRefusalWindow after a request was refused there as too slow, here or
// by the tier's executor itself (ExecutorRefused: the executor sees work
// this gateway does not, such as other clients' calls, and its own clock of
// the run time, so near the boundary it may refuse what was admitted here).
//
// Metrics: stoa_admission_refusals_total{function,tier,target,reason}: tier
// the target's class (edge|cloud), target its name, as the invocation
// metrics; reason max_concurrency (tier and target ""), queue_full,
// queue_wait or executor (the executor refused what was admitted here); a
// deleted function's series are dropped (Forget).
//
// Thread safety: every method may be called concurrently; per-tier counts
// are atomics, per-function state is under a mutex. Ownership: the clock
// and metrics registry must outlive the object.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "scheduler/tier.h"

namespace stoa::gateway {

class Admission {
 public:
  struct Options {
    // Invocations waiting for a worker per tier at most; 0: 4 × its workers.
    uint32_t max_queue_per_tier = 0;
  };
  // What is known of a tier's executor now (TierMonitor).
  struct TierLoad {
    uint32_t workers = 0;  // 0: not known yet, taken as 1
    uint32_t reported_depth = 0;
  };
  using Loads = std::array<TierLoad, scheduler::kNumTiers>;
  // Whether one tier can take one more request, and if not why.
  struct Verdict {
    bool open = true;
    std::string reason;   // "queue_full" | "queue_wait" when refused
    std::string message;  // names the limit when refused
    double wait_ms = 0.0;
  };
  using Verdicts = std::array<Verdict, scheduler::kNumTiers>;
  // A tier's queue as /readyz and GET /v1/scheduler/state show it.
  struct Queue {
    uint32_t admitted = 0;
    uint32_t queued = 0;
    uint32_t limit = 0;
    bool saturated = false;
  };
  static constexpr int64_t kWaitRefusalWindowUs = 1'000'000;

  Admission(const common::Clock& clock, common::metrics::Registry& metrics, Options options);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Takes one of `function`'s `max_concurrency` slots (0: no cap); when
  // they are all taken, RESOURCE_EXHAUSTED with Retry-After, counted.
  absl::Status AcquireFunction(const std::string& function, uint32_t max_concurrency);
  void ReleaseFunction(const std::string& function);

  // Which tiers of `tiers` can take one more invocation of `function` that
  // has `remaining_ms` of its deadline left.
  Verdicts Judge(const std::string& function, scheduler::TierSet tiers, double remaining_ms,
                 const Loads& loads);
  // The 503 for a request no tier of `tiers` could take (each refused in
  // `verdicts`), with Retry-After; counts one refusal per tier.
  absl::Status Refuse(const std::string& function, scheduler::TierSet tiers,
                      const Verdicts& verdicts);

  // Reserves a place on `tier`, judging it again atomically with the
  // reservation (concurrent requests may have taken the free worker or the
  // last place since Judge); the caller answers a refusal with Refuse. On
  // success `work_ms` is the run time the reservation adds to the tier's
  // work ahead, to be given back to Release.
  bool Reserve(const std::string& function, scheduler::Tier tier, double remaining_ms,
               const TierLoad& load, Verdict* refusal, double* work_ms);
  // An invocation reserved on `tier` (adding `work_ms`) ended; `run_ms` > 0
  // (a success there) teaches the run time of `function` and the tier's
  // service time.
  void Release(scheduler::Tier tier, const std::string& function, double work_ms, double run_ms);
  // `tier`'s executor refused a call of `function` as saturated (its queue
  // full or its wait too long, common::IsExecutorSaturated): counted, and
  // the tier is saturated for kWaitRefusalWindowUs as after a wait refusal.
  void ExecutorRefused(const std::string& function, scheduler::Tier tier);

  Queue QueueOf(scheduler::Tier tier, const TierLoad& load) const {
    return QueueAt(tier, tiers_[scheduler::TierIndex(tier)].admitted.load(), load);
  }
  // The function was deleted or replaced: its state and series go.
  void Forget(const std::string& function);

 private:
  struct PerTier {
    std::atomic<uint32_t> admitted{0};
    std::atomic<double> service_ms{0.0};
    std::atomic<int64_t> work_us{0};  // work(t), see above
    std::atomic<int64_t> last_wait_refusal_us{INT64_MIN / 2};
  };
  struct PerFunction {
    uint32_t in_flight = 0;
    std::array<double, scheduler::kNumTiers> run_ms{};
    bool forgotten = false;  // erased when the last call in flight ends
  };

  uint32_t Limit(const TierLoad& load) const;
  Queue QueueAt(scheduler::Tier tier, uint32_t admitted, const TierLoad& load) const;
  // The verdict on `tier` were `admitted` invocations admitted there.
  Verdict JudgeTier(scheduler::Tier tier, uint32_t admitted, const TierLoad& load, double run_ms,
                    double remaining_ms) const;
  double RunMs(const std::string& function, scheduler::Tier tier) const;
  // A refusal of `function` on `tier` for `reason`: counted, and when it
  // `saturates` (a wait refusal, here or by the executor), the tier is
  // saturated for kWaitRefusalWindowUs from now.
  void RefusedOn(const std::string& function, scheduler::Tier tier, const std::string& reason,
                 bool saturates);
  void Count(const std::string& function, std::string tier, std::string target,
             const std::string& reason);

  const common::Clock& clock_;
  const Options options_;
  common::metrics::Family<common::metrics::Counter>& refusals_;
  std::array<PerTier, scheduler::kNumTiers> tiers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, PerFunction> functions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stoa::gateway
