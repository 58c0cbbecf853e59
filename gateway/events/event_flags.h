// The gateway's flags for asynchronous invocations and the durable event
// queue (docs/events.md), and what starts them: the queue under
// <data-dir>/events/ with its callback sender wired to its finished events.
//
//   --events-commit-delay-ms N  group commit: how long the log waits for
//                               more records before one fdatasync (0: none)
//   --events-max-mb N           the log's budget on disk; past it async
//                               submissions get 503 + Retry-After
//   --events-retention-s N      finished events (and idempotency keys) kept
//   --events-max-running N      events running at once
//   --events-max-attempts N     attempts of an event whose runs fail
//                               (retryably) for reasons other than an
//                               unreachable tier, which is retried until TTL
//   --no-events                 no queue: Prefer: respond-async is ignored
//
// Thread safety: call from main. Ownership: EventService owns the queue and
// the sender; the sender stops first (a delivery it has not finished is
// redelivered by the queue's outbox after a restart), the queue is
// destroyed next, and both before the Invoker and ControlPlane they use.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/request_limits.h"
#include "gateway/control_plane.h"
#include "gateway/events/callback_sender.h"
#include "gateway/events/durable_event_queue.h"
#include "gateway/invoker.h"

namespace stoa::gateway::events {

struct EventFlags {
  bool disabled = false;
  uint32_t commit_delay_ms = 2;
  uint32_t max_mb = 256;
  uint32_t retention_s = 24 * 3600;
  uint32_t max_running = 16;
  uint32_t max_attempts = 5;
};

void AddEventFlags(CLI::App& app, EventFlags& flags);

struct EventService {
  EventService() = default;
  EventService(EventService&&) = default;
  EventService& operator=(EventService&&) = default;
  // Stops the sender (its deliveries in flight report nothing, so they are
  // sent again after a restart), then destroys the queue, then the sender.
  ~EventService();

  std::unique_ptr<CallbackSender> callbacks;  // destroyed after the queue
  std::unique_ptr<DurableEventQueue> queue;
};

// Opens (replays) and starts the queue; INTERNAL when the log cannot be
// read. With --no-events, an empty service. `before_start` (optional) runs
// on the opened queue before it starts, for sources that register
// OnFinished listeners (the MQTT bridge); its error is returned as is.
// `queued_work` (optional; outlives the service) counts the waiting events
// for the scheduler's queue term (DurableEventQueue::Options::queued_work).
absl::StatusOr<EventService> StartEvents(
    const EventFlags& flags, const std::string& data_dir, const common::RequestLimits& limits,
    const ControlPlane& functions, Invoker& invoker, common::metrics::Registry& metrics,
    QueuedWork* queued_work, const std::function<absl::Status(EventQueue&)>& before_start = {});

}  // namespace stoa::gateway::events
