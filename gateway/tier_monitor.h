// TierMonitor: the one owner of tier health at the gateway. Per tier it
// holds
//   - the executor calls this gateway has in flight there (invocations are
//     the scheduler's in-flight feature; every call kind is waited for at
//     shutdown),
//   - the queue depth the tier last reported (status probes and every
//     invocation response), and its worker threads (status probes; the
//     gateway's admission control, gateway/admission.h),
//   - the status probes: every Options::status_interval_ms a GetStatus to
//     each tier (one in flight per tier; a tier whose probe was still in
//     flight at a round gets its next one as soon as that one answers: a
//     starved executor, whose probes take 80-180 ms, is probed every
//     answer rather than every other period, so the end of its starvation
//     shows up to a period sooner), whose round trip goes to
//     Scheduler::ObserveLink (the net term follows the link with no
//     function sent there) and whose failure counts towards the tier's
//     circuit in the scheduler (the circuit is the scheduler's decision
//     state; this is its only source of probe results),
//   - the outcome of the last probe and its round trip, for /readyz and
//     GET /v1/scheduler/state,
//   - optionally, the asynchronous events waiting in the durable queue
//     (Options::queued_work, gateway/events/queued_work.h): FillFeatures
//     adds each target's share of them to its queue depth, so a burst of
//     async work makes the scheduler expect a queue there before it is
//     dispatched (issue 13 item 5).
// Members of a pooled tier (executors::PoolExecutor) are probed through
// the pool, which fans GetStatus out and keeps its members' marks.
//
// Metrics: stoa_executor_queue_depth{tier}, stoa_tier_status_rtt_seconds{tier}.
//
// Thread safety: every method may be called concurrently; the counters are
// atomics. Ownership: the executors, scheduler, clock and metrics registry
// must outlive the monitor; the destructor stops the probes and waits for
// every call counted with CallStarted to end.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "executors/executor.h"
#include "gateway/events/queued_work.h"
#include "gateway/invoker.h"
#include "scheduler/scheduler.h"

namespace stoa::gateway {

class TierMonitor {
 public:
  struct Options {
    // Period of the GetStatus probes of every tier; 0 turns them off.
    uint32_t status_interval_ms = 100;
    // The durable queue's waiting events (nullptr: none counted); must
    // outlive the monitor.
    const events::QueuedWork* queued_work = nullptr;
  };
  enum class CallKind { kInvoke, kControl };

  // `executors[TierIndex(t)]` serves tier t; nullptr: the tier is absent.
  TierMonitor(std::array<executors::Executor*, scheduler::kNumTiers> executors,
              scheduler::Scheduler& scheduler, const common::Clock& clock,
              common::metrics::Registry& metrics, Options options);
  ~TierMonitor();
  TierMonitor(const TierMonitor&) = delete;
  TierMonitor& operator=(const TierMonitor&) = delete;

  scheduler::TierSet configured() const { return configured_; }
  // nullptr when the tier is absent.
  executors::Executor* executor(scheduler::Tier tier) const {
    return executors_[scheduler::TierIndex(tier)];
  }
  std::string Describe(scheduler::Tier tier) const;  // "" when absent
  TierHealth Health(scheduler::Tier tier) const;

  // The scheduler's per-tier features: in-flight calls, and reported depth
  // plus the tier's share of the queued async events (QueuedWork::Depth).
  void FillFeatures(scheduler::Features& features) const;
  // An executor call starts / ends. For an invocation, CallStarted returns
  // the requests ahead of it on that tier (reported depth + in flight), and
  // `due_us` (the clock's micros, from DueMicros; 0: none) is when it is
  // overdue; CallEnded takes the same `due_us`.
  uint32_t CallStarted(scheduler::Tier tier, CallKind kind, int64_t due_us = 0);
  void CallEnded(scheduler::Tier tier, CallKind kind, int64_t due_us = 0);
  // When a call that started at `start_us` with a predicted latency of
  // `predicted_ms` is overdue: once it has taken scheduler::FarLateMs of its
  // prediction (twice it plus 5 ms, so that only a call far slower than
  // predicted counts). 0 when there is no prediction.
  static int64_t DueMicros(int64_t start_us, double predicted_ms);
  // The depth a tier reported with an invocation's response.
  void ReportDepth(scheduler::Tier tier, uint32_t depth);

  // One round of status probes (the prober's period; tests call it).
  void ProbeAll();

 private:
  struct PerTier {
    std::atomic<uint32_t> in_flight{0};
    std::atomic<uint32_t> reported_depth{0};
    std::atomic<uint32_t> workers{0};
    std::atomic<bool> probing{false};
    // A round found this tier's probe still in flight: the next one goes
    // as soon as it answers (ProbeTier), not a whole period later.
    std::atomic<bool> missed{false};
    std::atomic<int> last_probe{0};  // TierHealth::Probe
    std::atomic<double> last_rtt_ms{0.0};
    // When each invocation in flight is overdue (clock micros).
    mutable absl::Mutex due_mu;
    std::multiset<int64_t> due ABSL_GUARDED_BY(due_mu);
    common::metrics::GaugePtr depth_gauge;
    common::metrics::GaugePtr rtt_gauge;
  };
  class Prober;

  // Sends a status probe of `tier` (one in flight per tier).
  void ProbeTier(scheduler::Tier tier);
  // A status probe of `tier` answered after `rtt_ms`: its report, or why it
  // failed.
  void ProbeDone(scheduler::Tier tier, double rtt_ms,
                 const absl::StatusOr<v1::GetStatusResponse>& status);

  const std::array<executors::Executor*, scheduler::kNumTiers> executors_;
  const events::QueuedWork* const queued_work_;
  scheduler::TierSet configured_;
  scheduler::Scheduler& scheduler_;
  const common::Clock& clock_;
  std::array<PerTier, scheduler::kNumTiers> tiers_;

  absl::Mutex mu_;
  int calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Prober> prober_;  // last: stopped first
};

}  // namespace stoa::gateway
