// MqttSession: what the MQTT bridge needs from a connection to a broker
// (issue 13): inbound QoS 1 messages whose PUBACK the caller sends when it
// chooses, and QoS 1 publishing. MqttClient (mqtt_client.h) is the real one;
// tests use a small in-memory implementation.
//
//   Acknowledge  sends the PUBACK for one inbound message. A token from an
//                earlier connection is dropped: the broker redelivers that
//                message on the new one, and it gets a token of its own.
//   Publish      queues a QoS 1 message; it is sent while connected and
//                resent after a reconnection until the broker acknowledges
//                it (in memory only: lost if the process dies first; the
//                event queue's outbox publishes it again after a restart).
//                Its on_delivered, if set, is called once, on the session's
//                I/O thread, when the broker's PUBACK arrives (whatever its
//                reason code: a refusal is not retried either); never if the
//                session stops first. It must not block.
//   connected    whether a connection is up and subscribed now.
//
// Thread safety: every method may be called from any thread, including from
// within the message handler; none blocks on the network.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace stoa::gateway::events {

// Names one inbound QoS 1 message on one connection.
struct AckToken {
  uint64_t connection = 0;
  uint16_t packet_id = 0;
};

struct MqttInbound {
  std::string topic;
  std::string payload;
  std::string content_type;      // MQTT 5 content type; "" when absent
  std::string response_topic;    // MQTT 5 response topic; "" when absent
  std::string correlation_data;  // MQTT 5 correlation data, opaque
  std::vector<std::pair<std::string, std::string>> user_properties;
  bool duplicate_delivery = false;  // the broker's DUP flag
  AckToken ack;
};

struct MqttOutbound {
  std::string topic;
  std::string payload;
  std::string content_type;
  std::string correlation_data;
  std::function<void()> on_delivered;  // may be empty
};

class MqttSession {
 public:
  // Called once per inbound message, on the session's I/O thread, in the
  // order the broker sent them; must not block.
  using MessageHandler = std::function<void(MqttInbound)>;

  virtual ~MqttSession() = default;
  MqttSession(const MqttSession&) = delete;
  MqttSession& operator=(const MqttSession&) = delete;

  virtual void Acknowledge(AckToken token) = 0;
  virtual void Publish(MqttOutbound message) = 0;
  virtual bool connected() const = 0;

 protected:
  MqttSession() = default;
};

}  // namespace stoa::gateway::events
