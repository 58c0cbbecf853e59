#include "gateway/events/durable_event_queue.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/events/event_request.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace {

bool Final(EventStatus s) {
  return s == EventStatus::kSucceeded || s == EventStatus::kFailed || s == EventStatus::kExpired;
}

uint64_t EntryBytes(const EventEntry& e) {
  return 128 + e.body.size() + e.record.result_body.size() + e.record.error_message.size();
}

}  // namespace

DurableEventQueue::DurableEventQueue(Options options, const ControlPlane& functions,
                                     Invoker& invoker, common::metrics::Registry& metrics)
    : options_(std::move(options)),
      functions_(functions),
      invoker_(invoker),
      depth_gauge_(metrics.AddGauge("stoa_queue_depth", "Events queued or running.").Add({})),
      bytes_gauge_(metrics.AddGauge("stoa_queue_bytes", "Bytes of the event log on disk.").Add({})),
      oldest_gauge_(metrics
                        .AddGauge("stoa_queue_oldest_age_seconds",
                                  "Age of the oldest event not yet finished.")
                        .Add({})),
      syncs_counter_(metrics
                         .AddCounter("stoa_queue_log_syncs_total",
                                     "fdatasync calls of the event log (group commit).")
                         .Add({})),
      outcomes_(metrics.AddCounter("stoa_queue_events_total", "Events by outcome.")) {
  std::random_device seed;
  id_salt_ = (static_cast<uint64_t>(seed()) << 32) ^ seed();
  if (options_.queued_work == nullptr) return;
  auto& queued_async = metrics.AddGauge(
      "stoa_queue_queued_async",
      "Async events waiting in the durable queue, counted in each target's queue term "
      "(each 1/|its targets| on each target it may run on).");
  const scheduler::TierSet configured = invoker_.configured_tiers();
  for (scheduler::Tier t : scheduler::AllTiers()) {
    if (!configured.Contains(t)) continue;
    queued_async_gauges_[scheduler::TierIndex(t)] =
        queued_async.Add({{"tier", std::string(scheduler::TierClassName(t))},
                          {"target", std::string(scheduler::TierName(t))}});
  }
}

absl::StatusOr<std::unique_ptr<DurableEventQueue>> DurableEventQueue::Open(
    Options options, const ControlPlane& functions, Invoker& invoker,
    common::metrics::Registry& metrics) {
  std::unique_ptr<DurableEventQueue> queue(
      new DurableEventQueue(options, functions, invoker, metrics));
  EventLog::Options log_options;
  log_options.dir = options.dir;
  log_options.commit_delay = options.commit_delay;
  auto log = EventLog::Open(log_options, [raw = queue.get()](RecordType type, std::string_view p) {
    raw->Replayed(type, p);
  });
  if (!log.ok()) return log.status();
  queue->log_ = *std::move(log);
  queue->FinishReplay();
  return queue;
}

void DurableEventQueue::Replayed(RecordType type, std::string_view payload)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // before any other thread exists
  const std::string id = PayloadId(payload);
  if (id.empty()) return;
  if (type == RecordType::kAccepted) {
    EventEntry entry;
    if (Apply(payload, entry).ok()) entries_[id] = std::move(entry);
    return;
  }
  auto it = entries_.find(id);
  if (it != entries_.end() && type == RecordType::kState) (void)Apply(payload, it->second);
}

void DurableEventQueue::FinishReplay() {
  absl::MutexLock lock(&mu_);
  const absl::Time horizon = absl::Now() - options_.retention;
  for (auto it = entries_.begin(); it != entries_.end();) {
    EventEntry& e = it->second;
    if (Final(e.record.status) && e.record.finished_at < horizon) {
      entries_.erase(it++);
      continue;
    }
    e.durable = true;
    next_seq_ = std::max(next_seq_, e.seq + 1);
    live_bytes_ += EntryBytes(e);
    if (!e.dedup_key.empty()) dedup_[e.dedup_key] = e.record.id;
    if (e.record.status == EventStatus::kRunning) {
      e.record.status = EventStatus::kQueued;
      ++recovered_.requeued;
    }
    if (e.record.status == EventStatus::kQueued) {
      queued_[e.seq] = e.record.id;
      auto fn = functions_.Get(e.record.function);
      if (fn.ok()) e.targets = TargetsOf(fn->spec, e.forced_tier);
      CountWaiting(e, true);
    }
    if (Final(e.record.status) && !e.record.delivered && !e.record.reply_to.empty()) {
      undelivered_.emplace_back(e.seq, e.record);
    }
    ++it;
  }
  // In acceptance order: an ordered device's results go out in its order.
  std::sort(undelivered_.begin(), undelivered_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  recovered_.events = entries_.size();
  compacted_at_bytes_ = log_->bytes();
  if (recovered_.events > 0) {
    spdlog::info(
        "event queue: replayed {} events ({} queued, {} were running, {} results to deliver)",
        entries_.size(), queued_.size(), recovered_.requeued, undelivered_.size());
  }
}

DurableEventQueue::~DurableEventQueue() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // Runs in flight answer into the queue; wait for them (the Invoker's
    // own deadlines bound this).
    mu_.Await(absl::Condition(
        +[](DurableEventQueue* q) ABSL_NO_THREAD_SAFETY_ANALYSIS { return q->running_ == 0; },
        this));
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  log_.reset();  // flushes what is queued, completing its callbacks
  // The scheduler stops expecting this queue's events (a restart replays
  // and counts them again).
  absl::MutexLock lock(&mu_);
  for (auto& [id, e] : entries_) CountWaiting(e, false);
  ExportQueuedWork();
}

void DurableEventQueue::Start() {
  // The outbox: results finished before a crash whose delivery was never
  // recorded go out again (listeners only queue them, so this is quick).
  std::vector<std::pair<uint64_t, EventRecord>> undelivered = std::move(undelivered_);
  undelivered_.clear();
  for (const auto& [seq, record] : undelivered) {
    for (const FinishedListener& listener : listeners_) listener(record);
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void DurableEventQueue::MarkDelivered(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.finishing || it->second.record.delivered ||
      !Final(it->second.record.status)) {
    return;
  }
  it->second.record.delivered = true;
  // Lost with a crash before it is durable: the result goes out once more.
  log_->Append(LogRecord{RecordType::kState, EncodeDelivered(id)}, nullptr);
}

void DurableEventQueue::OnFinished(FinishedListener listener) {
  listeners_.push_back(std::move(listener));
}

void DurableEventQueue::CountWaiting(EventEntry& e, bool waiting) {
  if (e.waiting == waiting) return;
  e.waiting = waiting;
  if (options_.queued_work == nullptr) return;
  if (waiting) {
    options_.queued_work->Add(e.targets);
  } else {
    options_.queued_work->Remove(e.targets);
  }
}

void DurableEventQueue::ExportQueuedWork() {
  if (options_.queued_work == nullptr) return;
  for (scheduler::Tier t : scheduler::AllTiers()) {
    const auto& gauge = queued_async_gauges_[scheduler::TierIndex(t)];
    if (gauge) gauge->Set(options_.queued_work->Share(t));
  }
}

void DurableEventQueue::Count(const std::string& outcome) {
  outcomes_.Add({{"outcome", outcome}})->Increment();
}

absl::StatusOr<StoredFunction> DurableEventQueue::Check(const EventSubmission& s) const {
  auto fn = functions_.Get(s.function);
  if (!fn.ok()) return fn.status();
  if (!s.forced_tier.empty() && !scheduler::ParseTier(s.forced_tier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tier must be edge or cloud, got '", s.forced_tier, "'"));
  }
  auto prepared =
      Prepare(fn->spec, s.body, s.inference_header_length, options_.limits.max_json_depth);
  if (!prepared.ok()) return prepared.status();
  return fn;
}

void DurableEventQueue::Submit(EventSubmission submission, DurableCallback on_durable) {
  absl::StatusOr<StoredFunction> fn = Check(submission);
  if (!fn.ok()) {
    Count("rejected");
    return on_durable(fn.status());
  }
  Accept(std::move(submission), *fn, std::move(on_durable));
}

void DurableEventQueue::Accept(EventSubmission s, const StoredFunction& fn,
                               DurableCallback on_durable) {
  // on_durable never runs under mu_: callers (the MQTT bridge) read the
  // queue back from it, and absl::Mutex is not reentrant.
  std::optional<absl::StatusOr<Accepted>> answer_now;
  {
    absl::MutexLock lock(&mu_);
    answer_now = AcceptLocked(std::move(s), fn, on_durable);
  }
  if (answer_now) on_durable(*std::move(answer_now));
}

std::optional<absl::StatusOr<Accepted>> DurableEventQueue::AcceptLocked(
    EventSubmission s, const StoredFunction& fn, DurableCallback& on_durable) {
  if (stopping_) return absl::UnavailableError("the event queue is stopping");
  if (!s.dedup_key.empty()) {
    if (auto it = dedup_.find(s.dedup_key); it != dedup_.end()) {
      Count("duplicate");
      auto entry = entries_.find(it->second);
      if (entry != entries_.end() && !entry->second.durable) {
        waiting_[it->second].push_back(std::move(on_durable));
        return std::nullopt;
      }
      return Accepted{it->second, true};
    }
  }
  const uint64_t size = s.body.size() + s.reply_to.size() + 256;
  if (log_->bytes() + pending_bytes_ + size > options_.max_bytes) {
    Count("rejected");
    return absl::ResourceExhaustedError(absl::StrCat("the event queue is full (",
                                                     log_->bytes() + pending_bytes_, " of ",
                                                     options_.max_bytes, " bytes); retry later"));
  }
  EventEntry e;
  EventRecord& r = e.record;
  r.id = NewId();
  r.function = s.function;
  r.accepted_at = absl::Now();
  r.finished_at = absl::InfinitePast();
  const uint32_t ttl_s = fn.spec.events().ttl_s();
  r.expires_at = r.accepted_at + (ttl_s > 0 ? absl::Seconds(ttl_s) : options_.default_ttl);
  r.origin = std::move(s.origin);
  r.reply_to = std::move(s.reply_to);
  r.correlation_data = std::move(s.correlation_data);
  e.seq = next_seq_++;
  e.body = std::move(s.body);
  e.content_type = std::move(s.content_type);
  e.inference_header_length = std::move(s.inference_header_length);
  e.dedup_key = std::move(s.dedup_key);
  e.forced_tier = std::move(s.forced_tier);
  e.ordered = fn.spec.events().ordered();
  e.targets = TargetsOf(fn.spec, e.forced_tier);
  const std::string id = r.id;
  if (!e.dedup_key.empty()) dedup_[e.dedup_key] = id;
  waiting_[id].push_back(std::move(on_durable));
  pending_bytes_ += size;
  live_bytes_ += EntryBytes(e);
  LogRecord record{RecordType::kAccepted, EncodeAccepted(e)};
  entries_[id] = std::move(e);
  log_->Append(std::move(record), [this, id, size](absl::Status st) {
    {
      absl::MutexLock l(&mu_);
      pending_bytes_ -= size;
    }
    Durable(id, st);
  });
  return std::nullopt;
}

void DurableEventQueue::Durable(const std::string& id, absl::Status status) {
  std::vector<DurableCallback> callbacks;
  {
    absl::MutexLock lock(&mu_);
    callbacks = std::move(waiting_[id]);
    waiting_.erase(id);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (status.ok()) {
      it->second.durable = true;
      queued_[it->second.seq] = id;
      CountWaiting(it->second, true);
      kick_ = true;
    } else {
      // Not accepted: forget it, and its key.
      if (!it->second.dedup_key.empty()) dedup_.erase(it->second.dedup_key);
      live_bytes_ -= std::min(live_bytes_, EntryBytes(it->second));
      entries_.erase(it);
    }
  }
  if (status.ok()) Count("accepted");
  for (size_t i = 0; i < callbacks.size(); ++i) {
    if (status.ok()) {
      callbacks[i](Accepted{id, i > 0});
    } else {
      callbacks[i](absl::UnavailableError(
          absl::StrCat("the event could not be made durable: ", status.message())));
    }
  }
}

std::string DurableEventQueue::NewId() {
  // Unique across restarts: a random salt per process and a counter.
  return absl::StrFormat("ev-%016x-%08x", id_salt_, ++id_counter_);
}

std::optional<EventRecord> DurableEventQueue::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.durable) return std::nullopt;
  return it->second.record;
}

void DurableEventQueue::Cancel(const std::string& id, CancelCallback done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.durable) {
      refused = absl::NotFoundError(absl::StrCat("no invocation '", id, "'"));
    } else if (EventEntry& e = it->second; e.record.status != EventStatus::kQueued || e.finishing) {
      refused = absl::FailedPreconditionError(absl::StrCat("invocation '", id, "' is ",
                                                           EventStatusName(e.record.status),
                                                           "; only a queued one can be cancelled"));
    } else {
      // Answered only once the cancelled state is durable: a crash after
      // the caller hears "cancelled" must not run the event.
      Finish(e, EventStatus::kFailed, "CANCELLED", "cancelled before it ran",
             [this, done = std::move(done)](absl::Status durable) {
               if (durable.ok()) Count("cancelled");
               done(durable.ok()
                        ? durable
                        : absl::UnavailableError(absl::StrCat(
                              "the cancellation could not be recorded: ", durable.message())));
             });
      return;
    }
  }
  done(refused);
}

std::vector<EventRecord> DurableEventQueue::List(EventStatus status, size_t limit) const {
  std::vector<std::pair<uint64_t, EventRecord>> found;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, e] : entries_) {
      if (e.durable && e.record.status == status) found.emplace_back(e.seq, e.record);
    }
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<EventRecord> out;
  for (auto& [seq, r] : found) {
    if (out.size() >= limit) break;
    out.push_back(std::move(r));
  }
  return out;
}

EventQueue::Depth DurableEventQueue::depth() const {
  absl::MutexLock lock(&mu_);
  return Depth{queued_.size() + running_, log_->bytes()};
}

}  // namespace stoa::gateway::events
