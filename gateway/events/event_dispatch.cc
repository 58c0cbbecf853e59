// DurableEventQueue's running half: the dispatcher loop, placement of
// events when they start, retries, final states, expiry and compaction
// (the contract is in durable_event_queue.h).
#include <algorithm>
#include <cctype>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gateway/events/durable_event_queue.h"
#include "gateway/events/event_request.h"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace {

using scheduler::Tier;
using scheduler::TierSet;

constexpr absl::Duration kTick = absl::Milliseconds(20);
constexpr absl::Duration kMaintainEvery = absl::Milliseconds(200);
constexpr uint64_t kMinCompactBytes = 1 << 20;

enum class Retryable { kNo, kLimited, kUntilTtl };

Retryable Classify(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:  // a saturated tier: admission control
      return Retryable::kUntilTtl;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
      return Retryable::kLimited;
    default:
      return Retryable::kNo;
  }
}

TierSet SpecTiers(const v1::FunctionSpec& spec) {
  TierSet tiers;
  for (const std::string& name : spec.tiers()) {
    for (Tier t : scheduler::AllTiers()) {
      if (scheduler::ParseTierOrClass(name).Contains(t)) tiers.Add(t);
    }
  }
  return tiers.Empty() ? TierSet::All() : tiers;
}

std::string CodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  for (char& c : name) c = c == ' ' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

std::string DeviceKey(const EventEntry& e) {
  if (!e.ordered || e.record.origin.device_id.empty()) return "";
  return absl::StrCat(e.record.function, "\n", e.record.origin.device_id);
}

}  // namespace

void DurableEventQueue::DispatchLoop() {
  absl::Time last_maintained = absl::InfinitePast();
  for (;;) {
    std::vector<std::pair<EventEntry, std::optional<Tier>>> picked;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](DurableEventQueue* q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return q->kick_ || q->stopping_;
                               },
                               this),
                           kTick);
      if (stopping_) return;
      kick_ = false;
      if (absl::Now() - last_maintained >= kMaintainEvery) {
        Maintain();
        last_maintained = absl::Now();
      }
      picked = Pick();
    }
    for (auto& [entry, forced] : picked) Run(std::move(entry), forced);
  }
}

TierSet DurableEventQueue::TargetsOf(const v1::FunctionSpec& spec,
                                     const std::string& forced_tier) const {
  TierSet allowed = SpecTiers(spec);
  if (auto forced = scheduler::ParseTier(forced_tier)) allowed = TierSet::Of(*forced);
  return allowed.Intersect(invoker_.configured_tiers());
}

std::optional<std::optional<Tier>> DurableEventQueue::Placement(const EventEntry& e) const {
  auto fn = functions_.Get(e.record.function);
  // A deleted function: let the run fail it (NOT_FOUND).
  if (!fn.ok()) return std::optional<Tier>();
  TierSet allowed = SpecTiers(fn->spec);
  if (auto forced = scheduler::ParseTier(e.forced_tier)) {
    TierSet only;
    only.Add(*forced);
    allowed = only;
  }
  const TierSet configured = invoker_.configured_tiers();
  std::vector<Tier> usable, reachable;
  bool all_saturated = true;
  for (Tier t : scheduler::AllTiers()) {
    if (!allowed.Contains(t) || !configured.Contains(t)) continue;
    usable.push_back(t);
    const TierHealth health = invoker_.Health(t);
    if (health.last_probe == TierHealth::Probe::kFailed) continue;
    reachable.push_back(t);
    all_saturated = all_saturated && health.saturated;
  }
  // Offline (wait for the probes), or every tier full (wait for room
  // rather than be refused by admission control).
  if (reachable.empty() || all_saturated) return std::nullopt;
  if (reachable.size() < usable.size()) return reachable.front();  // re-placed
  if (!e.forced_tier.empty()) return reachable.front();
  return std::optional<Tier>();  // the scheduler decides, now
}

std::vector<std::pair<EventEntry, std::optional<Tier>>> DurableEventQueue::Pick() {
  std::vector<std::pair<EventEntry, std::optional<Tier>>> out;
  const absl::Time now = absl::Now();
  absl::flat_hash_set<std::string> blocked;  // devices with an older event waiting
  std::vector<uint64_t> started;
  for (const auto& [seq, id] : queued_) {
    if (running_ >= options_.max_running) break;
    EventEntry& e = entries_.at(id);
    const std::string device = DeviceKey(e);
    if (!device.empty()) {
      if (running_devices_.contains(device) || !blocked.insert(device).second) continue;
    }
    if (e.next_attempt_at > now) continue;
    auto placement = Placement(e);
    if (!placement) continue;
    e.record.status = EventStatus::kRunning;
    ++e.record.attempts;
    ++running_;
    // Placed next: no longer work waiting ahead of itself (or of others).
    CountWaiting(e, false);
    if (!device.empty()) running_devices_.insert(device);
    started.push_back(seq);
    log_->Append(LogRecord{RecordType::kState, EncodeState(e)}, nullptr);
    out.emplace_back(e, *placement);
  }
  for (uint64_t seq : started) queued_.erase(seq);
  return out;
}

void DurableEventQueue::Run(EventEntry entry, std::optional<Tier> forced) {
  const std::string id = entry.record.id;
  auto fn = functions_.Get(entry.record.function);
  if (!fn.ok()) {
    static const v1::FunctionSpec kNone;
    return RunDone(id, kNone, nullptr, fn.status());
  }
  auto prepared =
      Prepare(fn->spec, entry.body, entry.inference_header_length, options_.limits.max_json_depth);
  if (!prepared.ok()) return RunDone(id, fn->spec, nullptr, prepared.status());
  auto spec = std::make_shared<v1::FunctionSpec>(fn->spec);
  std::shared_ptr<InferRequest> infer = prepared->infer;
  invoker_.Invoke(*fn, std::move(prepared->request), forced,
                  [this, id, spec, infer](absl::StatusOr<DispatchResult> result) {
                    RunDone(id, *spec, infer.get(), std::move(result));
                  });
}

void DurableEventQueue::RunDone(const std::string& id, const v1::FunctionSpec& spec,
                                const InferRequest* infer, absl::StatusOr<DispatchResult> result) {
  absl::StatusOr<RenderedResult> rendered = absl::UnknownError("");
  if (result.ok()) {
    rendered = Render(spec, infer, result->response, options_.limits.max_output_bytes);
  }
  absl::MutexLock lock(&mu_);
  --running_;
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  EventEntry& e = it->second;
  running_devices_.erase(DeviceKey(e));
  kick_ = true;
  if (result.ok()) e.record.tier = std::string(scheduler::TierName(result->tier));
  if (result.ok() && rendered.ok()) {
    e.record.result_body = std::move(rendered->body);
    e.record.result_content_type = std::move(rendered->content_type);
    return Finish(e, EventStatus::kSucceeded, "", "");
  }
  const absl::Status why = result.ok() ? rendered.status() : result.status();
  const Retryable retry = Classify(why);
  const bool in_time = absl::Now() < e.record.expires_at;
  if (in_time && (retry == Retryable::kUntilTtl ||
                  (retry == Retryable::kLimited && e.record.attempts < options_.max_attempts))) {
    return Retry(e, why);
  }
  Finish(e, EventStatus::kFailed, CodeName(why.code()), std::string(why.message()));
}

void DurableEventQueue::Retry(EventEntry& e, const absl::Status& why) {
  const double factor = std::pow(2.0, std::min<uint32_t>(e.record.attempts, 20) - 1.0);
  const absl::Duration delay = std::min(options_.backoff_max, options_.backoff_initial * factor);
  e.record.status = EventStatus::kQueued;
  e.next_attempt_at = absl::Now() + delay;
  e.record.error_code = CodeName(why.code());
  e.record.error_message = std::string(why.message());
  queued_[e.seq] = e.record.id;
  CountWaiting(e, true);
  log_->Append(LogRecord{RecordType::kState, EncodeState(e)}, nullptr);
  Count("retried");
}

void DurableEventQueue::Finish(EventEntry& e, EventStatus status, const std::string& code,
                               const std::string& message, CancelCallback then) {
  EventRecord final_record = e.record;
  final_record.status = status;
  final_record.finished_at = absl::Now();
  final_record.error_code = code;
  final_record.error_message = message;
  queued_.erase(e.seq);
  CountWaiting(e, false);
  EventEntry state = e;
  state.record = final_record;
  e.finishing = std::move(final_record);
  const std::string id = e.record.id;
  log_->Append(LogRecord{RecordType::kState, EncodeState(state)},
               [this, id, then = std::move(then)](absl::Status s) {
                 Finished(id, s);
                 if (then) then(s);
               });
}

void DurableEventQueue::Finished(const std::string& id, absl::Status durable) {
  EventRecord record;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.finishing) return;
    EventEntry& e = it->second;
    if (!durable.ok()) {
      spdlog::error("event {}: its final state could not be recorded: {}", id,
                    std::string(durable.message()));
      return;
    }
    e.record = *std::move(e.finishing);
    e.finishing.reset();
    e.body.clear();  // not needed once finished
    live_bytes_ = live_bytes_ + e.record.result_body.size();
    record = e.record;
  }
  if (record.error_code != "CANCELLED") {
    Count(record.status == EventStatus::kSucceeded ? "succeeded"
          : record.status == EventStatus::kExpired ? "expired"
                                                   : "failed");
  }
  for (const FinishedListener& listener : listeners_) listener(record);
}

void DurableEventQueue::Maintain() {
  const absl::Time now = absl::Now();
  const absl::Time horizon = now - options_.retention;
  absl::Time oldest = now;
  std::vector<std::string> expired, dropped;
  for (const auto& [id, e] : entries_) {
    const EventStatus s = e.record.status;
    if ((s == EventStatus::kQueued || s == EventStatus::kRunning) && e.durable) {
      oldest = std::min(oldest, e.record.accepted_at);
    }
    if (s == EventStatus::kQueued && e.durable && !e.finishing && e.record.expires_at <= now) {
      expired.push_back(id);
    }
    const bool final_state =
        s == EventStatus::kSucceeded || s == EventStatus::kFailed || s == EventStatus::kExpired;
    if (final_state && !e.finishing && e.record.finished_at < horizon) dropped.push_back(id);
  }
  for (const std::string& id : expired) {
    EventEntry& e = entries_.at(id);
    Finish(e, EventStatus::kExpired, "DEADLINE_EXCEEDED",
           absl::StrCat("not run within its TTL (",
                        absl::FormatDuration(e.record.expires_at - e.record.accepted_at), ")"));
  }
  for (const std::string& id : dropped) {
    auto it = entries_.find(id);
    if (!it->second.dedup_key.empty()) dedup_.erase(it->second.dedup_key);
    live_bytes_ -= std::min<uint64_t>(live_bytes_, 128 + it->second.record.result_body.size());
    entries_.erase(it);
  }
  depth_gauge_->Set(static_cast<double>(queued_.size() + running_));
  bytes_gauge_->Set(static_cast<double>(log_->bytes()));
  oldest_gauge_->Set(absl::ToDoubleSeconds(now - oldest));
  ExportQueuedWork();
  const uint64_t syncs = log_->syncs();
  syncs_counter_->Increment(static_cast<double>(syncs - syncs_reported_));
  syncs_reported_ = syncs;
  MaybeCompact();
}

void DurableEventQueue::MaybeCompact() {
  const uint64_t bytes = log_->bytes();
  if (compacting_ || bytes < kMinCompactBytes || bytes < 2 * live_bytes_ + kMinCompactBytes) {
    return;
  }
  std::vector<LogRecord> live;
  live.reserve(entries_.size());
  uint64_t size = 0;
  for (const auto& [id, e] : entries_) {
    EventEntry copy = e;
    if (copy.finishing) copy.record = *copy.finishing;
    const EventStatus s = copy.record.status;
    if (s != EventStatus::kQueued && s != EventStatus::kRunning) copy.body.clear();
    live.push_back(LogRecord{RecordType::kAccepted, EncodeAccepted(copy)});
    size += live.back().payload.size();
  }
  live_bytes_ = size;
  compacting_ = true;
  spdlog::info("event log: compacting {} bytes into {} events ({} bytes)", bytes, live.size(),
               size);
  log_->Compact(std::move(live), [this](absl::Status s) {
    absl::MutexLock lock(&mu_);
    compacting_ = false;
    if (!s.ok()) live_bytes_ = log_->bytes();  // do not retry at once
  });
}

}  // namespace stoa::gateway::events
