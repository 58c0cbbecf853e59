// DurableEventQueue: the EventQueue (event_queue.h) on an EventLog under
// <data-dir>/events/ (issue 13 items 3-5).
//
// Accepting: Submit checks the function exists and the body parses as its
// synchronous invoke would (so bad input is refused before it is accepted),
// checks the budget (the log's bytes plus what is waiting to be written
// against `max_bytes`: RESOURCE_EXHAUSTED past it), appends an accepted
// record (the whole event, body included) and answers on_durable after the
// group commit made it durable. A dedup_key seen within the retention
// period answers the first event's id (duplicate = true), after that event
// is durable; the key index is rebuilt on replay.
//
// Running: one dispatcher thread starts events in acceptance order, at most
// `max_running` at once, through the Invoker, placing each when it starts
// (the scheduler decides then, not at acceptance). Offline: an event whose
// allowed tiers (its function's `tiers`, those configured) all have failing
// probes waits, up to its TTL; when only some do, it is forced onto one that
// answers; while every tier it may use is saturated (admission control) it
// waits for room. Ordered functions (`events.ordered`): of one device's events
// (origin.device_id), only the oldest unfinished one may run, so they run
// and finish in acceptance order. Failures: UNAVAILABLE (the tier could not
// be reached) and RESOURCE_EXHAUSTED (it was full) are retried with
// exponential backoff until the TTL; other retryable failures (ABORTED,
// DEADLINE_EXCEEDED, and INTERNAL from a crashed runtime) up to
// `max_attempts`; anything else
// fails the event at once. An event not finished by its TTL expires.
//
// Delivery (the outbox): a listener reports a result delivered with
// MarkDelivered, a small record in the log; at Start, every finished event
// with a reply_to and no such record is handed to the listeners again, so a
// result reaches its MQTT topic or callback at least once across crashes.
//
// Crashes: replay rebuilds every event; those that were running are queued
// again (at-least-once inside: a run whose final record was not yet durable
// runs again), and since an event's final state is written once, its id
// and result never change afterwards (exactly-once at the API). Finished
// events are kept for `retention`, then dropped by compaction, which
// rewrites the live events into a new segment.
//
// The scheduler's queue term (issue 13 item 5): with Options::queued_work,
// every event waiting in the queue (queued, not yet picked to run: new,
// retrying after a backoff, waiting for its tiers) is counted there, on
// the targets it may run on; it stops counting when it is picked (before
// it is placed), finishes or is cancelled. TierMonitor adds those counts to
// each target's queue depth (gateway/events/queued_work.h).
//
// Metrics: stoa_queue_depth, stoa_queue_bytes, stoa_queue_oldest_age_seconds,
// stoa_queue_log_syncs_total (the log's fdatasyncs: group commit's effect),
// stoa_queue_events_total{outcome=accepted|duplicate|rejected|succeeded|
// failed|expired|cancelled|retried}, and with Options::queued_work
// stoa_queue_queued_async{tier,target} (QueuedWork::Share, refreshed with
// the other gauges every 200 ms).
//
// Thread safety: every method may be called concurrently. Ownership: the
// ControlPlane, Invoker and metrics registry must outlive the queue; the
// destructor stops dispatching, waits for the runs in flight to be
// recorded, and flushes the log.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "gateway/control_plane.h"
#include "gateway/events/event_entry.h"
#include "gateway/events/event_log.h"
#include "gateway/events/event_queue.h"
#include "gateway/events/queued_work.h"
#include "gateway/invoker.h"
#include "gateway/kserve_codec.h"

namespace stoa::gateway::events {

class DurableEventQueue final : public EventQueue {
 public:
  struct Options {
    std::string dir;  // <data-dir>/events
    absl::Duration commit_delay = absl::Milliseconds(2);
    uint64_t max_bytes = 256ull << 20;
    absl::Duration retention = absl::Hours(24);
    absl::Duration default_ttl = absl::Hours(24);
    uint32_t max_running = 16;
    uint32_t max_attempts = 5;
    absl::Duration backoff_initial = absl::Milliseconds(100);
    absl::Duration backoff_max = absl::Seconds(30);
    common::RequestLimits limits;  // JSON depth, output size
    // Waiting events are counted here for the scheduler (nullptr: not
    // counted); must outlive the queue.
    QueuedWork* queued_work = nullptr;
  };

  // Replays the log (INTERNAL when it cannot be read). Start begins
  // dispatching.
  static absl::StatusOr<std::unique_ptr<DurableEventQueue>> Open(
      Options options, const ControlPlane& functions, Invoker& invoker,
      common::metrics::Registry& metrics);
  ~DurableEventQueue() override;

  void Start();

  void Submit(EventSubmission submission, DurableCallback on_durable) override;
  std::optional<EventRecord> Get(const std::string& id) const override;
  void Cancel(const std::string& id, CancelCallback done) override;
  void MarkDelivered(const std::string& id) override;
  std::vector<EventRecord> List(EventStatus status, size_t limit) const override;
  void OnFinished(FinishedListener listener) override;
  Depth depth() const override;
  // How many events replay found, and of them how many were re-queued.
  struct Recovered {
    size_t events = 0;
    size_t requeued = 0;
  };
  Recovered recovered() const { return recovered_; }
  const EventLog& log() const { return *log_; }

 private:
  struct Waiter {
    DurableCallback callback;
  };

  DurableEventQueue(Options options, const ControlPlane& functions, Invoker& invoker,
                    common::metrics::Registry& metrics);
  void Replayed(RecordType type, std::string_view payload);
  void FinishReplay();

  // Submit's checks; the function's spec.
  absl::StatusOr<StoredFunction> Check(const EventSubmission& submission) const;
  void Accept(EventSubmission submission, const StoredFunction& fn, DurableCallback on_durable);
  // Accept's work under mu_: the answer to give at once (after mu_ is
  // released), or nullopt when on_durable was kept to run later.
  std::optional<absl::StatusOr<Accepted>> AcceptLocked(EventSubmission submission,
                                                       const StoredFunction& fn,
                                                       DurableCallback& on_durable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Durable(const std::string& id, absl::Status status);

  void DispatchLoop();
  void Maintain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The events that may start now (under mu_), marked running.
  std::vector<std::pair<EventEntry, std::optional<scheduler::Tier>>> Pick()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `entry` can run now and where: nullopt = wait (its tiers are
  // down); a forced tier or the scheduler's choice.
  std::optional<std::optional<scheduler::Tier>> Placement(const EventEntry& entry) const;
  void Run(EventEntry entry, std::optional<scheduler::Tier> forced);
  void RunDone(const std::string& id, const v1::FunctionSpec& spec, const InferRequest* infer,
               absl::StatusOr<DispatchResult> result);
  // Records a final state, then (once durable) publishes it and calls
  // `then` (if any) with the write's status, outside mu_.
  void Finish(EventEntry& entry, EventStatus status, const std::string& code,
              const std::string& message, CancelCallback then = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finished(const std::string& id, absl::Status durable);
  void Retry(EventEntry& entry, const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Count(const std::string& outcome);
  // Where an event of `spec` may run (forced_tier: only there), among the
  // configured targets: what QueuedWork counts it on.
  scheduler::TierSet TargetsOf(const v1::FunctionSpec& spec, const std::string& forced_tier) const;
  // `entry` starts (true) or stops waiting in the scheduler's eyes
  // (QueuedWork); called wherever it enters or leaves queued_.
  void CountWaiting(EventEntry& entry, bool waiting) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExportQueuedWork();
  void MaybeCompact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const ControlPlane& functions_;
  Invoker& invoker_;
  std::unique_ptr<EventLog> log_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, EventEntry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> dedup_ ABSL_GUARDED_BY(mu_);
  // Submitters of duplicates of events not yet durable.
  absl::flat_hash_map<std::string, std::vector<DurableCallback>> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> queued_ ABSL_GUARDED_BY(mu_);  // seq → id
  absl::flat_hash_set<std::string> running_devices_ ABSL_GUARDED_BY(mu_);
  uint32_t running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // accepted, not yet durable
  uint64_t live_bytes_ ABSL_GUARDED_BY(mu_) = 0;     // of the events kept
  uint64_t compacted_at_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool compacting_ ABSL_GUARDED_BY(mu_) = false;
  bool kick_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t id_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t id_salt_ = 0;
  std::vector<FinishedListener> listeners_;
  // Finished on replay with a reply_to and no delivered marker: handed to
  // the listeners again by Start (the outbox), in acceptance (seq) order.
  std::vector<std::pair<uint64_t, EventRecord>> undelivered_;
  Recovered recovered_;

  common::metrics::GaugePtr depth_gauge_, bytes_gauge_, oldest_gauge_;
  std::array<common::metrics::GaugePtr, scheduler::kNumTiers> queued_async_gauges_;
  common::metrics::CounterPtr syncs_counter_;
  uint64_t syncs_reported_ ABSL_GUARDED_BY(mu_) = 0;
  common::metrics::Family<common::metrics::Counter>& outcomes_;
  std::thread dispatcher_;
};

}  // namespace stoa::gateway::events
