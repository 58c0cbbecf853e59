// MqttClient: an MQTT 5 connection to one broker for the gateway's bridge
// (issue 13), over TCP or TLS, with a persistent session (clean start off,
// a session expiry), one QoS 1 subscription, PUBACKs sent by the caller
// (MqttSession::Acknowledge), QoS 1 publishing and keep-alive.
//
// The connection is kept up by its own I/O thread: a broker that is down at
// Start, refuses the connection or drops it is retried with exponential
// backoff (Options::retry_min..retry_max) until Stop; nothing else waits for
// it. Each connection re-subscribes and resends the publishes the broker has
// not acknowledged. Messages are handed to the handler as they arrive; the
// broker limits those not yet acknowledged to Options::receive_maximum.
//
// Create returns INVALID_ARGUMENT for a bad broker URL (tcp://HOST:PORT or
// ssl://HOST:PORT) or TLS files that cannot be loaded, naming the flag.
//
// Thread safety: as MqttSession; Start and Stop from one owner thread. The
// destructor stops the client.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/events/mqtt_session.h"

namespace stoa::gateway::events {

class MqttClient final : public MqttSession {
 public:
  struct Options {
    std::string broker;  // tcp://HOST:PORT or ssl://HOST:PORT
    std::string client_id;
    std::string username;  // "" = none
    std::string password;
    std::string ca_file;    // ssl://: "" = the system trust store
    std::string cert_file;  // ssl://: a client certificate, optional
    std::string key_file;
    std::string subscription;  // the topic filter, subscribed at QoS 1
    uint16_t keep_alive_s = 30;
    // How long the broker keeps the session (and queues messages) while the
    // gateway is away.
    uint32_t session_expiry_s = 7 * 24 * 3600;
    uint16_t receive_maximum = 1024;
    size_t max_packet_bytes = 0;  // inbound packets over it close the connection; 0 = none
    std::chrono::milliseconds retry_min{200};
    std::chrono::milliseconds retry_max{10000};
  };
  // Called on the I/O thread when the connection comes up (true, after the
  // subscription is granted) or goes down (false).
  using StateHandler = std::function<void(bool connected)>;

  static absl::StatusOr<std::unique_ptr<MqttClient>> Create(Options options);
  ~MqttClient() override;

  // Starts connecting; the handlers must outlive Stop.
  void Start(MessageHandler on_message, StateHandler on_state);
  // Disconnects cleanly (the broker keeps the session) and joins the I/O
  // thread; messages not yet acknowledged are redelivered next time.
  void Stop();

  void Acknowledge(AckToken token) override;
  void Publish(MqttOutbound message) override;
  bool connected() const override;

  struct Impl;

 private:
  explicit MqttClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoa::gateway::events
