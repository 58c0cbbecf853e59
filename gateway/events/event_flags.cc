#include "gateway/events/event_flags.h"

#include <filesystem>

#include "common/json_text.h"
#include "gateway/events/event_json.h"

namespace stoa::gateway::events {

void AddEventFlags(CLI::App& app, EventFlags& flags) {
  app.add_flag("--no-events", flags.disabled,
               "no durable event queue: Prefer: respond-async is ignored");
  app.add_option("--events-commit-delay-ms", flags.commit_delay_ms,
                 "group commit: how long the event log gathers records before one fdatasync")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--events-max-mb", flags.max_mb,
                 "the event log's budget on disk, MiB; past it async invocations get 503")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--events-retention-s", flags.retention_s,
                 "how long finished events and idempotency keys are kept")
      ->check(CLI::Range(1, 365 * 24 * 3600))
      ->capture_default_str();
  app.add_option("--events-max-running", flags.max_running, "queued events running at once")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--events-max-attempts", flags.max_attempts,
                 "attempts of an event whose runs fail retryably (an unreachable tier is "
                 "retried until the event's TTL)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
}

EventService::~EventService() {
  if (callbacks) callbacks->Stop();
}

absl::StatusOr<EventService> StartEvents(
    const EventFlags& flags, const std::string& data_dir, const common::RequestLimits& limits,
    const ControlPlane& functions, Invoker& invoker, common::metrics::Registry& metrics,
    QueuedWork* queued_work, const std::function<absl::Status(EventQueue&)>& before_start) {
  EventService service;
  if (flags.disabled) return service;
  DurableEventQueue::Options options;
  options.dir = (std::filesystem::path(data_dir) / "events").string();
  options.commit_delay = absl::Milliseconds(flags.commit_delay_ms);
  options.max_bytes = static_cast<uint64_t>(flags.max_mb) << 20;
  options.retention = absl::Seconds(flags.retention_s);
  options.max_running = flags.max_running;
  options.max_attempts = flags.max_attempts;
  options.limits = limits;
  options.queued_work = queued_work;
  auto queue = DurableEventQueue::Open(options, functions, invoker, metrics);
  if (!queue.ok()) return queue.status();
  service.callbacks = std::make_unique<CallbackSender>(CallbackSender::Options{});
  CallbackSender* sender = service.callbacks.get();
  EventQueue* q = queue->get();
  (*queue)->OnFinished([sender, q](const EventRecord& r) {
    if (r.origin.source != EventOrigin::Source::kHttp || r.reply_to.empty()) return;
    // `done` reaches the queue: ~EventService stops the sender first.
    sender->Send(r.reply_to, r.id, common::DumpJson(EventRecordJson(r)),
                 [q, id = r.id] { q->MarkDelivered(id); });
  });
  if (before_start) {
    absl::Status status = before_start(**queue);
    if (!status.ok()) return status;
  }
  service.queue = *std::move(queue);
  service.queue->Start();
  return service;
}

}  // namespace stoa::gateway::events
