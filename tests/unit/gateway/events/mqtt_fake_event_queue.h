// MqttFakeEventQueue: a small real in-memory EventQueue for the MQTT bridge's
// tests, until they run against the durable one (gateway/events). It keeps
// the contract's observable behaviour: dedup by dedup_key, on_durable exactly
// once per Submit (from its worker thread, or when the test releases it),
// RESOURCE_EXHAUSTED while over "budget", NOT_FOUND for unknown functions,
// OnFinished once per event. Events "run" by echoing: a function named
// "fail" finishes FAILED/INTERNAL, any other succeeds with
// {"echo": <body as a string>}. Nothing is on disk: a test that restarts
// "the gateway" keeps this object and rebuilds the bridge and client.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gateway/events/event_queue.h"
#include "nlohmann/json.hpp"

namespace stoa::gateway::events::testing {

class MqttFakeEventQueue final : public EventQueue {
 public:
  // hold_durable: on_durable waits for ReleaseDurable (the test decides
  // when "the fsync" completes); else the worker answers at once.
  explicit MqttFakeEventQueue(bool hold_durable = false) : hold_durable_(hold_durable) {
    functions_ = {"echo", "fail"};
    worker_ = std::thread([this] { Work(); });
  }
  ~MqttFakeEventQueue() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    worker_.join();
  }

  void Submit(EventSubmission submission, DurableCallback on_durable) override {
    absl::MutexLock lock(&mu_);
    submissions_.push_back(submission);
    if (!functions_.contains(submission.function)) {
      tasks_.push_back([cb = std::move(on_durable), f = submission.function] {
        cb(absl::NotFoundError(absl::StrCat("function ", f, " not found")));
      });
      return;
    }
    if (exhausted_) {
      tasks_.push_back([cb = std::move(on_durable)] {
        cb(absl::ResourceExhaustedError("queue over its budget"));
      });
      return;
    }
    if (auto it = by_key_.find(submission.dedup_key);
        !submission.dedup_key.empty() && it != by_key_.end()) {
      tasks_.push_back([cb = std::move(on_durable), id = it->second] {
        cb(Accepted{.id = id, .duplicate = true});
      });
      return;
    }
    EventRecord r;
    r.id = absl::StrCat("ev", records_.size() + 1);
    r.function = submission.function;
    r.accepted_at = absl::Now();
    r.finished_at = absl::InfinitePast();
    r.origin = submission.origin;
    r.reply_to = submission.reply_to;
    r.correlation_data = submission.correlation_data;
    if (!submission.dedup_key.empty()) by_key_[submission.dedup_key] = r.id;
    bodies_[r.id] = submission.body;
    records_[r.id] = r;
    const std::string id = r.id;
    if (drop_next_ack_) {
      // Durable and run, but the answer never reaches the source (a crash
      // between the fsync and the PUBACK).
      drop_next_ack_ = false;
      tasks_.push_back([this, id] { Run(id); });
      return;
    }
    auto durable = [this, cb = std::move(on_durable), id] {
      cb(Accepted{.id = id, .duplicate = false});
      Run(id);
    };
    if (hold_durable_) {
      held_.push_back(std::move(durable));
    } else {
      tasks_.push_back(std::move(durable));
    }
  }

  std::optional<EventRecord> Get(const std::string& id) const override {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(id);
    if (it == records_.end()) return std::nullopt;
    return it->second;
  }
  void Cancel(const std::string&, CancelCallback done) override {
    done(absl::UnimplementedError("not in the fake"));
  }
  void MarkDelivered(const std::string& id) override {
    absl::MutexLock lock(&mu_);
    ++delivered_[id];
  }
  // How many times MarkDelivered was called per event id.
  std::map<std::string, int> delivered() const {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }
  std::vector<EventRecord> List(EventStatus, size_t) const override { return {}; }
  Depth depth() const override { return {}; }
  void OnFinished(FinishedListener listener) override {
    absl::MutexLock lock(&mu_);
    listeners_.push_back(std::move(listener));
  }

  // Completes every held on_durable (in order).
  void ReleaseDurable() {
    absl::MutexLock lock(&mu_);
    for (auto& task : held_) tasks_.push_back(std::move(task));
    held_.clear();
  }
  size_t held() const {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  void SetExhausted(bool exhausted) {
    absl::MutexLock lock(&mu_);
    exhausted_ = exhausted;
  }
  void DropNextAck() {
    absl::MutexLock lock(&mu_);
    drop_next_ack_ = true;
  }
  std::vector<EventSubmission> submissions() const {
    absl::MutexLock lock(&mu_);
    return submissions_;
  }
  // How many times each dedup key ran (never more than once).
  std::map<std::string, int> runs() const {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  size_t accepted() const {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  // Waits until `done` holds, up to `timeout`.
  bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return done();
  }

 private:
  void Run(const std::string& id) {
    std::vector<FinishedListener> listeners;
    EventRecord r;
    {
      absl::MutexLock lock(&mu_);
      r = records_[id];
      for (const auto& [key, value] : by_key_) {
        if (value == id) ++runs_[key];
      }
      r.attempts = 1;
      r.tier = "edge";
      r.finished_at = absl::Now();
      if (r.function == "fail") {
        r.status = EventStatus::kFailed;
        r.error_code = "INTERNAL";
        r.error_message = "the function failed";
      } else {
        r.status = EventStatus::kSucceeded;
        r.result_body = nlohmann::json{{"echo", bodies_[id]}}.dump();
        r.result_content_type = "application/json";
      }
      records_[id] = r;
      listeners = listeners_;
    }
    for (const auto& listener : listeners) listener(r);
  }

  void Work() {
    for (;;) {
      std::deque<std::function<void()>> tasks;
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](MqttFakeEventQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
                                   return q->stopping_ || !q->tasks_.empty();
                                 },
                                 this),
                             absl::Milliseconds(50));
        if (stopping_ && tasks_.empty()) return;
        tasks.swap(tasks_);
      }
      for (auto& task : tasks) task();
    }
  }

  const bool hold_durable_;
  mutable absl::Mutex mu_;
  std::set<std::string> functions_ ABSL_GUARDED_BY(mu_);
  bool exhausted_ ABSL_GUARDED_BY(mu_) = false;
  bool drop_next_ack_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::string> by_key_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, EventRecord> records_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> runs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> delivered_ ABSL_GUARDED_BY(mu_);
  std::vector<EventSubmission> submissions_ ABSL_GUARDED_BY(mu_);
  std::vector<FinishedListener> listeners_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

}  // namespace stoa::gateway::events::testing
