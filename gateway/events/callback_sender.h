// CallbackSender: POSTs finished asynchronous invocations to the URL their
// submitter gave in Stoa-Callback (docs/events.md).
//
// The body is the same JSON document GET /v1/invocations/{id} answers
// (given by the caller as `body`), with Content-Type application/json and
// Stoa-Invocation-Id. A 2xx answer ends it; anything else (no connection, a
// timeout, another status) is retried with exponential backoff (0.5 s
// doubling, at most 30 s apart) up to `max_attempts`, then given up and
// logged. Plain http:// only: the REST layer refuses https:// callbacks.
//
// `done` (optional) is called once, on the sender thread, when the delivery
// ends: after a 2xx, or when it is given up after max_attempts. The event
// queue records that (EventQueue::MarkDelivered); a delivery still pending
// when the gateway stops or crashes never calls `done`, so the queue's
// outbox hands it to the sender again after the restart. Delivery is thus
// at-least-once across crashes: a receiver may get one result more than
// once (Stoa-Invocation-Id tells them apart) and should be idempotent.
//
// Thread safety: Send may be called from any thread; one sender thread
// delivers. Ownership: the destructor drops what is not yet delivered
// (without calling `done`) and joins the thread.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stoa::gateway::events {

class CallbackSender {
 public:
  struct Options {
    uint32_t max_attempts = 8;
    absl::Duration timeout = absl::Seconds(5);
  };
  explicit CallbackSender(Options options);
  ~CallbackSender();
  CallbackSender(const CallbackSender&) = delete;
  CallbackSender& operator=(const CallbackSender&) = delete;

  using Done = std::function<void()>;
  void Send(std::string url, std::string id, std::string body, Done done = nullptr);
  // Stops delivering and joins the thread (no `done` runs after it); later
  // Sends are dropped. The destructor calls it.
  void Stop();

 private:
  struct Delivery {
    std::string url, id, body;
    uint32_t attempts = 0;
    absl::Time next = absl::InfinitePast();
    Done done;
  };
  void Loop();
  // The HTTP status of one POST, or 0 when it could not be made.
  int Post(const Delivery& d) const;

  const Options options_;
  absl::Mutex mu_;
  std::deque<Delivery> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace stoa::gateway::events
