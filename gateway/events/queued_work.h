// QueuedWork: the asynchronous events waiting in the durable queue (queued,
// not yet dispatched), as the placement scheduler's queue term sees them
// (issue 13 item 5; docs/scheduler.md § The latency model, docs/events.md).
//
// The queue term predicts queue wait = ahead × recent service time on a
// target, where `ahead` is the requests the target will serve before the
// one being placed. Events waiting in the queue will be dispatched to the
// targets they may run on, so they are work ahead of a synchronous call (and
// of the queue's own later events) that the executors cannot report yet.
// Where each will run is decided only when it starts (the scheduler places
// it then), so each waiting event counts 1/|targets| on each target it may
// run on (its function's tiers ∩ the configured ones, or its forced tier).
// The event being placed is not counted: the queue takes it out (Remove)
// before it hands it to the Invoker.
//
//   Add / Remove  one event starts / stops waiting for `targets` (Remove
//                 with the set given to Add). An empty set counts nowhere.
//   Share         the waiting events' share on `target`, Σ 1/|targets|.
//   Depth         Share rounded to the nearest whole event: what TierMonitor
//                 adds to Features::queue_depth.
//   events        how many events wait.
//
// Thread safety: every method may be called concurrently; all are a few
// relaxed atomic operations (no lock), so TierMonitor::FillFeatures stays
// cheap on every placement. Readers may see an Add or Remove half applied
// across targets (a momentary difference of one event's share).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "scheduler/tier.h"

namespace stoa::gateway {
class Invoker;
}  // namespace stoa::gateway

namespace stoa::gateway::events {

class QueuedWork {
 public:
  QueuedWork() = default;
  QueuedWork(const QueuedWork&) = delete;
  QueuedWork& operator=(const QueuedWork&) = delete;

  void Add(scheduler::TierSet targets) { Change(targets, +1); }
  void Remove(scheduler::TierSet targets) { Change(targets, -1); }
  double Share(scheduler::Tier target) const;
  uint32_t Depth(scheduler::Tier target) const;
  uint64_t events() const;

 private:
  // lcm(1..8): every share 1/|targets| is a whole number of units.
  static constexpr int64_t kUnit = 840;
  static_assert(scheduler::kNumTiers <= 8, "kUnit must be a multiple of 1..kNumTiers");

  void Change(scheduler::TierSet targets, int64_t sign);

  std::array<std::atomic<int64_t>, scheduler::kNumTiers> units_{};
  std::atomic<int64_t> events_{0};
};

// GET /v1/scheduler/state's document (gateway/scheduler_state_json.h) with
// "queued_async" (TierHealth::queued_async: the waiting events' share) added
// to each configured target under "tiers". The document is returned as is
// when it does not parse (it always does: it comes from SchedulerStateJson).
std::string WithQueuedAsync(std::string state_json, const Invoker& invoker);

}  // namespace stoa::gateway::events
