// MqttBridge: invocations over MQTT into the durable EventQueue, results
// back over MQTT (issue 13 item 2; docs/events.md § MQTT).
//
// A message on {prefix}/invoke/{function}/{request_id} carries the body of a
// synchronous invoke. It is submitted with dedup_key
// "mqtt:{function}:{request_id}" (the same request id never runs twice, a
// redelivery after a restart included), origin kMqtt with device_id = the
// MQTT 5 user property "device-id" ("" when absent: the broker does not tell
// subscribers who published), reply_to = the MQTT 5 response topic if any,
// else {prefix}/result/{function}/{request_id}, and the correlation data.
//
// Acknowledgement: the PUBACK is sent only once the queue reports the event
// durable (or a duplicate of one that is). When the queue is over its budget
// (RESOURCE_EXHAUSTED) or stopping (UNAVAILABLE) the message is not
// acknowledged: the bridge resubmits it with backoff while it runs, and the
// broker redelivers it after a reconnection. A message that can never be
// accepted (a bad topic level, a body over the limit, an unknown function,
// a bad field) is acknowledged, so that it is not redelivered forever, and
// answered on its reply topic with {"error":{"code","message"}}.
//
// Results: every finished event of MQTT origin is published (QoS 1) to its
// reply_to with its correlation data: the body a synchronous call would have
// returned with its content type, or the error object (application/json).
// A redelivered request whose event already finished gets its result again.
// When the broker acknowledges a result (PUBACK), the bridge records it with
// EventQueue::MarkDelivered; results finished but never acknowledged before
// a crash come back through OnFinished after the restart and are published
// again (at-least-once: a device may see a result twice, same id and body).
//
// Metrics: stoa_mqtt_messages_total{outcome=accepted|duplicate|invalid|
// rejected|deferred|result_published} and stoa_mqtt_connected (SetConnected).
//
// Lifetime: registers an OnFinished listener on `queue` at construction (so
// before the queue's Start); the listener and pending callbacks outlive the
// bridge safely (they do nothing once it is destroyed). `session` must
// outlive the bridge. Thread safety: every method may be called
// concurrently; HandleMessage does not block.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "gateway/events/event_queue.h"
#include "gateway/events/mqtt_session.h"

namespace stoa::gateway::events {

class MqttBridge {
 public:
  struct Options {
    std::string topic_prefix = "stoa";
    size_t max_body_bytes = 16 << 20;  // the invoke body limit
    std::string principal = "mqtt";    // EventOrigin::principal of MQTT events
    // Resubmission of messages the queue could not take yet.
    std::chrono::milliseconds retry_min{50};
    std::chrono::milliseconds retry_max{5000};
  };

  MqttBridge(EventQueue& queue, MqttSession& session, Options options,
             common::metrics::Registry& metrics);
  ~MqttBridge();
  MqttBridge(const MqttBridge&) = delete;
  MqttBridge& operator=(const MqttBridge&) = delete;

  // The subscription filter for `prefix`: "{prefix}/invoke/+/+".
  static std::string InvokeFilter(const std::string& prefix);
  // The default result topic of a request.
  static std::string ResultTopic(const std::string& prefix, const std::string& function,
                                 const std::string& request_id);

  // One inbound message (the session's MessageHandler).
  void HandleMessage(MqttInbound message);
  // The session's connection state, for stoa_mqtt_connected.
  void SetConnected(bool connected);

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

// INVALID_ARGUMENT naming the rule when `request_id` is not 1 to 128 bytes
// of letters, digits, '.', '_' or '-'.
absl::Status ValidateRequestId(const std::string& request_id);

}  // namespace stoa::gateway::events
