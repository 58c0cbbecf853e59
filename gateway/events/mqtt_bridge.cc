#include "gateway/events/mqtt_bridge.h"

#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "functions/spec_rules.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace stoa::gateway::events {
namespace {

constexpr size_t kMaxRequestIdBytes = 128;
constexpr char kDeviceIdProperty[] = "device-id";
constexpr char kJson[] = "application/json";

std::string ErrorBody(const std::string& code, const std::string& message) {
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A message on its way into the queue (kept while it is resubmitted).
struct Pending {
  Pending(std::chrono::milliseconds min, std::chrono::milliseconds max) : backoff(min, max) {}
  EventSubmission submission;
  AckToken ack;
  common::Backoff backoff;
};

}  // namespace

struct MqttBridge::Core {
  Core(EventQueue& q, MqttSession& s, Options o, common::metrics::Registry& metrics)
      : queue(&q), options(std::move(o)), session(&s) {
    auto& messages = metrics.AddCounter("stoa_mqtt_messages_total",
                                        "MQTT messages by outcome, and results published.");
    for (auto [counter, outcome] : {std::pair{&accepted, "accepted"},
                                    {&duplicate, "duplicate"},
                                    {&invalid, "invalid"},
                                    {&rejected, "rejected"},
                                    {&deferred, "deferred"},
                                    {&published, "result_published"}}) {
      *counter = messages.Add({{"outcome", outcome}});
    }
    connected =
        metrics.AddGauge("stoa_mqtt_connected", "1 while the MQTT broker is connected.").Add({});
  }

  void Submit(std::shared_ptr<Pending> pending, const std::shared_ptr<Core>& self);
  void OnDurable(const std::shared_ptr<Pending>& pending, absl::StatusOr<Accepted> accepted,
                 const std::shared_ptr<Core>& self);
  void Defer(std::shared_ptr<Pending> pending);
  void Answer(const std::string& topic, const std::string& correlation, const std::string& body,
              const std::string& content_type, std::function<void()> on_delivered = nullptr);
  void Acknowledge(AckToken token) {
    absl::MutexLock lock(&mu);
    if (session != nullptr) session->Acknowledge(token);
  }
  void PublishRecord(const EventRecord& record);
  void RetryLoop(const std::shared_ptr<Core>& self);

  EventQueue* const queue;
  const Options options;
  common::metrics::CounterPtr accepted, duplicate, invalid, rejected, deferred, published;
  common::metrics::GaugePtr connected;

  absl::Mutex mu;
  MqttSession* session ABSL_GUARDED_BY(mu);  // null once the bridge is gone
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::deque<std::pair<absl::Time, std::shared_ptr<Pending>>> retries ABSL_GUARDED_BY(mu);
  std::thread retry_thread;
};

void MqttBridge::Core::Answer(const std::string& topic, const std::string& correlation,
                              const std::string& body, const std::string& content_type,
                              std::function<void()> on_delivered) {
  absl::MutexLock lock(&mu);
  if (session == nullptr || topic.empty()) return;
  session->Publish({.topic = topic,
                    .payload = body,
                    .content_type = content_type,
                    .correlation_data = correlation,
                    .on_delivered = std::move(on_delivered)});
  published->Increment();
}

void MqttBridge::Core::PublishRecord(const EventRecord& r) {
  if (r.origin.source != EventOrigin::Source::kMqtt || r.reply_to.empty()) return;
  // The broker's PUBACK is recorded in the queue's log, so that a restart
  // publishes again only results the broker never acknowledged.
  auto delivered = [queue = queue, id = r.id] { queue->MarkDelivered(id); };
  if (r.error_code.empty()) {
    Answer(r.reply_to, r.correlation_data, r.result_body,
           r.result_content_type.empty() ? kJson : r.result_content_type, delivered);
  } else {
    Answer(r.reply_to, r.correlation_data, ErrorBody(r.error_code, r.error_message), kJson,
           delivered);
  }
}

void MqttBridge::Core::Submit(std::shared_ptr<Pending> pending, const std::shared_ptr<Core>& self) {
  EventSubmission submission = pending->submission;
  queue->Submit(std::move(submission), [self, pending](absl::StatusOr<Accepted> accepted) {
    self->OnDurable(pending, std::move(accepted), self);
  });
}

void MqttBridge::Core::OnDurable(const std::shared_ptr<Pending>& pending,
                                 absl::StatusOr<Accepted> result,
                                 const std::shared_ptr<Core>& self) {
  (void)self;
  if (result.ok()) {
    Acknowledge(pending->ack);
    if (!result->duplicate) {
      accepted->Increment();
      return;
    }
    duplicate->Increment();
    // A redelivery of a request that already ran: its result may never
    // have reached the broker (the gateway stopped first); send it again.
    std::optional<EventRecord> record = queue->Get(result->id);
    if (record && record->status != EventStatus::kQueued &&
        record->status != EventStatus::kRunning) {
      PublishRecord(*record);
    }
    return;
  }
  const absl::StatusCode code = result.status().code();
  if (code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable) {
    deferred->Increment();
    Defer(pending);
    return;
  }
  rejected->Increment();
  Acknowledge(pending->ack);
  const EventSubmission& s = pending->submission;
  Answer(s.reply_to, s.correlation_data,
         ErrorBody(absl::StatusCodeToString(code), std::string(result.status().message())), kJson);
}

void MqttBridge::Core::Defer(std::shared_ptr<Pending> pending) {
  const absl::Time due = absl::Now() + absl::FromChrono(pending->backoff.Next());
  absl::MutexLock lock(&mu);
  if (stopping) return;  // not acknowledged: the broker redelivers it
  retries.emplace_back(due, std::move(pending));
}

void MqttBridge::Core::RetryLoop(const std::shared_ptr<Core>& self) {
  std::vector<std::shared_ptr<Pending>> due;
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithTimeout(absl::Condition(
                              +[](Core* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) {
                                return c->stopping || (!c->retries.empty() &&
                                                       c->retries.front().first <= absl::Now());
                              },
                              this),
                          absl::Milliseconds(20));
      if (stopping) return;
      const absl::Time now = absl::Now();
      for (auto it = retries.begin(); it != retries.end();) {
        if (it->first <= now) {
          due.push_back(std::move(it->second));
          it = retries.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& pending : due) Submit(std::move(pending), self);
    due.clear();
  }
}

std::string MqttBridge::InvokeFilter(const std::string& prefix) {
  return absl::StrCat(prefix, "/invoke/+/+");
}

std::string MqttBridge::ResultTopic(const std::string& prefix, const std::string& function,
                                    const std::string& request_id) {
  return absl::StrCat(prefix, "/result/", function, "/", request_id);
}

absl::Status ValidateRequestId(const std::string& id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request id must be 1 to ", kMaxRequestIdBytes, " bytes, got ", id.size()));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          "request id may hold only letters, digits, '.', '_' and '-'");
    }
  }
  return absl::OkStatus();
}

MqttBridge::MqttBridge(EventQueue& queue, MqttSession& session, Options options,
                       common::metrics::Registry& metrics)
    : core_(std::make_shared<Core>(queue, session, std::move(options), metrics)) {
  std::weak_ptr<Core> weak = core_;
  queue.OnFinished([weak](const EventRecord& record) {
    if (std::shared_ptr<Core> core = weak.lock()) core->PublishRecord(record);
  });
  core_->retry_thread = std::thread([core = core_.get(), self = core_] { core->RetryLoop(self); });
}

MqttBridge::~MqttBridge() {
  {
    absl::MutexLock lock(&core_->mu);
    core_->stopping = true;
    core_->session = nullptr;
    core_->retries.clear();
  }
  core_->retry_thread.join();
}

void MqttBridge::SetConnected(bool connected) { core_->connected->Set(connected ? 1 : 0); }

void MqttBridge::HandleMessage(MqttInbound m) {
  Core& core = *core_;
  const std::string& prefix = core.options.topic_prefix;
  const std::string invoke = absl::StrCat(prefix, "/invoke/");
  std::vector<std::string> levels;
  if (absl::StartsWith(m.topic, invoke)) {
    levels = absl::StrSplit(m.topic.substr(invoke.size()), '/');
  }
  const bool addressed = levels.size() == 2;
  std::string reply_to = m.response_topic;
  if (reply_to.empty() && addressed) reply_to = ResultTopic(prefix, levels[0], levels[1]);
  absl::Status valid = addressed
                           ? functions::ValidateFunctionName(levels[0])
                           : absl::InvalidArgumentError(absl::StrCat(
                                 "topic ", m.topic, " is not ", invoke, "{function}/{request_id}"));
  if (valid.ok()) valid = ValidateRequestId(levels[1]);
  if (valid.ok() && m.payload.size() > core.options.max_body_bytes) {
    valid = absl::InvalidArgumentError(absl::StrCat("payload of ", m.payload.size(),
                                                    " bytes is over the body limit of ",
                                                    core.options.max_body_bytes, " bytes"));
  }
  if (!valid.ok()) {
    core.invalid->Increment();
    core.Acknowledge(m.ack);
    core.Answer(reply_to, m.correlation_data,
                ErrorBody("INVALID_ARGUMENT", std::string(valid.message())), kJson);
    return;
  }
  auto pending = std::make_shared<Pending>(core.options.retry_min, core.options.retry_max);
  pending->ack = m.ack;
  EventSubmission& s = pending->submission;
  s.function = levels[0];
  s.body = std::move(m.payload);
  s.content_type = m.content_type.empty() ? kJson : m.content_type;
  s.dedup_key = absl::StrCat("mqtt:", levels[0], ":", levels[1]);
  s.origin.source = EventOrigin::Source::kMqtt;
  for (const auto& [key, value] : m.user_properties) {
    if (key == kDeviceIdProperty) s.origin.device_id = value;
  }
  s.origin.principal = core.options.principal;
  s.reply_to = std::move(reply_to);
  s.correlation_data = std::move(m.correlation_data);
  core.Submit(std::move(pending), core_);
}

}  // namespace stoa::gateway::events
