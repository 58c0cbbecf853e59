// The MQTT bridge's command-line flags and its start-up for stoa-gateway
// (issue 13; docs/events.md § MQTT):
//
//   --mqtt-broker tcp://HOST:PORT|ssl://HOST:PORT   (off when absent)
//   --mqtt-client-id ID         default stoa-gateway-{12 hex of the data
//                               dir's absolute path}: stable across
//                               restarts, so the broker's session (and the
//                               messages it kept) is found again
//   --mqtt-username U --mqtt-password-file FILE
//   --mqtt-tls-ca FILE --mqtt-tls-cert FILE --mqtt-tls-key FILE   (ssl://)
//   --mqtt-topic-prefix P       default "stoa"
//
// StartMqtt checks the flags (INVALID_ARGUMENT naming the flag: a bad URL,
// an unreadable password file, TLS files that do not load, a bad prefix),
// builds the bridge on `queue` (registering its OnFinished listener, so call
// it before the queue starts) and starts connecting in the background: a
// broker that is down does not stop the gateway.
//
// Thread safety: one owner; MqttService::Stop disconnects (the broker keeps
// the session) and is also run by the destructor.
#pragma once

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "gateway/events/event_queue.h"
#include "gateway/events/mqtt_bridge.h"
#include "gateway/events/mqtt_client.h"

namespace stoa::gateway::events {

struct MqttFlags {
  std::string broker;
  std::string client_id;
  std::string username;
  std::string password_file;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string topic_prefix = "stoa";

  bool enabled() const { return !broker.empty(); }
};

void AddMqttFlags(CLI::App& app, MqttFlags& flags);

// The default client id for a data directory.
std::string DefaultMqttClientId(const std::string& data_dir);

class MqttService {
 public:
  MqttService(std::unique_ptr<MqttClient> client, std::unique_ptr<MqttBridge> bridge)
      : client_(std::move(client)), bridge_(std::move(bridge)) {}
  ~MqttService() { Stop(); }
  MqttService(const MqttService&) = delete;
  MqttService& operator=(const MqttService&) = delete;

  bool connected() const { return client_ && client_->connected(); }
  void Stop() {
    if (client_) client_->Stop();
    bridge_.reset();
  }

 private:
  std::unique_ptr<MqttClient> client_;
  std::unique_ptr<MqttBridge> bridge_;
};

absl::StatusOr<std::unique_ptr<MqttService>> StartMqtt(const MqttFlags& flags,
                                                       const std::string& data_dir,
                                                       EventQueue& queue, size_t max_body_bytes,
                                                       common::metrics::Registry& metrics);

}  // namespace stoa::gateway::events
