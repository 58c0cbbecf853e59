// EventQueue: the gateway's durable queue of asynchronous invocations
// (issue 13). Sources (async HTTP, the MQTT bridge) submit events; the queue
// makes each durable, answers its submitter, runs it through the Invoker
// when the scheduler can place it (re-placing events whose tier went away),
// and keeps its outcome for the retention period.
//
//   Submit     makes `submission` durable (a record fsynced in the log,
//              group commit) and then calls `on_durable` exactly once, from
//              any thread, with the event's id. A submission whose
//              dedup_key was already accepted within the retention period is
//              not stored again: on_durable gets that event's id with
//              duplicate = true, and it never runs twice. Errors:
//              NOT_FOUND (no such function), INVALID_ARGUMENT (a bad field,
//              named), RESOURCE_EXHAUSTED (over the queue's budget: the
//              source answers 503 with Retry-After, or withholds its
//              acknowledgement so the broker redelivers), UNAVAILABLE (the
//              queue is stopping or its disk failed). Nothing is accepted
//              unless on_durable reports an id.
//   Get        the event's current record; nullopt when unknown (never
//              accepted, or compacted after its retention).
//   Cancel     a queued (not yet running) event becomes failed with
//              CANCELLED; `done` is called once that state is durable (so a
//              crash after the caller answers cannot run the event), from
//              any thread and never under the queue's lock. Errors (given
//              to `done`, at once): NOT_FOUND, FAILED_PRECONDITION when it
//              already runs or ran; UNAVAILABLE when the state could not be
//              written.
//   List       records in a state (the dead letters: failed, expired).
//   OnFinished registers a listener called when an event reaches a final
//              state, after that state is durable (the MQTT bridge
//              publishes results from it; the callback sender POSTs them),
//              and again after a restart for every finished event with a
//              reply_to whose delivery was not recorded (the outbox: at-
//              least-once delivery across crashes). Listeners are added
//              before Start and called from the queue's threads; they must
//              not block for long.
//   MarkDelivered  records (durably, in the log) that a finished event's
//              result reached its reply_to (an MQTT PUBACK, a callback's
//              2xx) or was given up; it is then not delivered again after a
//              restart. Unknown or unfinished ids are ignored.
//   depth      events queued or running, and the log's size on disk.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stoa::gateway::events {

// Where an event came from; what its source needs to answer it later.
struct EventOrigin {
  enum class Source { kHttp, kMqtt };
  Source source = Source::kHttp;
  std::string device_id;  // MQTT client id or X-Device-Id; "" when none
  std::string principal;  // the authenticated identity's name, for audit
  // The caller's tenant ("" none): who may read the event back besides its
  // principal (added for the REST routes; the MQTT bridge may leave it "").
  std::string tenant;
};

struct EventSubmission {
  std::string function;
  std::string body;
  std::string content_type;
  // Deduplication: an Idempotency-Key (HTTP) or the MQTT request id, scoped
  // by source and function by the caller ("" = none).
  std::string dedup_key;
  EventOrigin origin;
  // Where the result goes besides GET /v1/invocations/{id}: an MQTT topic
  // (the v5 response topic or stoa/result/...) or a callback URL; "" none.
  std::string reply_to;
  std::string correlation_data;  // MQTT 5 correlation data, opaque
  std::string forced_tier;       // "edge", "cloud" or "" (the scheduler)
  // Triton's Inference-Header-Content-Length of a binary KServe body ("" a
  // plain body); kept so the body parses the same way when the event runs.
  std::string inference_header_length;
};

struct Accepted {
  std::string id;
  bool duplicate = false;
};

enum class EventStatus { kQueued, kRunning, kSucceeded, kFailed, kExpired };
const char* EventStatusName(EventStatus status);
// "queued", "running", ... back to the status; nullopt for anything else.
std::optional<EventStatus> ParseEventStatus(const std::string& name);

struct EventRecord {
  std::string id;
  std::string function;
  EventStatus status = EventStatus::kQueued;
  std::string tier;  // where it last ran, "" before
  uint32_t attempts = 0;
  absl::Time accepted_at;
  absl::Time finished_at;  // absl::InfinitePast() while pending
  std::string result_body;
  std::string result_content_type;
  std::string error_code;  // a google.rpc code name, "" on success
  std::string error_message;
  EventOrigin origin;
  std::string reply_to;
  std::string correlation_data;
  absl::Time expires_at;  // accepted_at + the function's events.ttl_s
  // The result reached reply_to (or was given up): not delivered again.
  bool delivered = false;
};

class EventQueue {
 public:
  using DurableCallback = std::function<void(absl::StatusOr<Accepted>)>;
  using FinishedListener = std::function<void(const EventRecord&)>;

  virtual ~EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  virtual void Submit(EventSubmission submission, DurableCallback on_durable) = 0;
  virtual std::optional<EventRecord> Get(const std::string& id) const = 0;
  using CancelCallback = std::function<void(absl::Status)>;
  virtual void Cancel(const std::string& id, CancelCallback done) = 0;
  virtual void MarkDelivered(const std::string& id) = 0;
  virtual std::vector<EventRecord> List(EventStatus status, size_t limit) const = 0;
  virtual void OnFinished(FinishedListener listener) = 0;
  // Queued and running events, and the log's bytes on disk.
  struct Depth {
    size_t pending = 0;
    uint64_t bytes = 0;
  };
  virtual Depth depth() const = 0;

 protected:
  EventQueue() = default;
};

}  // namespace stoa::gateway::events
