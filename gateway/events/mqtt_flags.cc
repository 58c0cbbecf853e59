#include "gateway/events/mqtt_flags.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/sha256.h"

namespace stoa::gateway::events {

void AddMqttFlags(CLI::App& app, MqttFlags& flags) {
  app.add_option("--mqtt-broker", flags.broker,
                 "MQTT broker to take invocations from: tcp://HOST:PORT or ssl://HOST:PORT");
  app.add_option("--mqtt-client-id", flags.client_id,
                 "MQTT client id (default: stoa-gateway- and a hash of the data directory)");
  app.add_option("--mqtt-username", flags.username, "MQTT user name");
  app.add_option("--mqtt-password-file", flags.password_file,
                 "file holding the MQTT password (one line)");
  app.add_option("--mqtt-tls-ca", flags.tls_ca,
                 "PEM CA bundle for an ssl:// broker (default: the system trust store)");
  app.add_option("--mqtt-tls-cert", flags.tls_cert, "PEM client certificate for an ssl:// broker");
  app.add_option("--mqtt-tls-key", flags.tls_key, "PEM key of --mqtt-tls-cert");
  app.add_option("--mqtt-topic-prefix", flags.topic_prefix,
                 "topics are {prefix}/invoke/{function}/{request_id} and "
                 "{prefix}/result/{function}/{request_id}")
      ->capture_default_str();
}

std::string DefaultMqttClientId(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(data_dir, ec);
  std::string key = ec ? data_dir : path.lexically_normal().string();
  while (key.size() > 1 && key.back() == '/') key.pop_back();  // "d/." and "d" are one
  return absl::StrCat("stoa-gateway-", common::Sha256Hex(key).substr(0, 12));
}

namespace {

absl::Status CheckPrefix(const std::string& prefix) {
  if (prefix.empty() || absl::StrContains(prefix, "+") || absl::StrContains(prefix, "#") ||
      absl::StartsWith(prefix, "/") || absl::EndsWith(prefix, "/") ||
      absl::StartsWith(prefix, "$")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mqtt-topic-prefix: '", prefix,
                     "' must be topic levels without wildcards, a leading '$' or '/', or a "
                     "trailing '/'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MqttService>> StartMqtt(const MqttFlags& flags,
                                                       const std::string& data_dir,
                                                       EventQueue& queue, size_t max_body_bytes,
                                                       common::metrics::Registry& metrics) {
  if (absl::Status s = CheckPrefix(flags.topic_prefix); !s.ok()) return s;
  MqttClient::Options options;
  options.broker = flags.broker;
  options.client_id = flags.client_id.empty() ? DefaultMqttClientId(data_dir) : flags.client_id;
  options.username = flags.username;
  if (!flags.password_file.empty()) {
    if (flags.username.empty()) {
      return absl::InvalidArgumentError("--mqtt-password-file needs --mqtt-username");
    }
    absl::StatusOr<std::string> password = common::ReadFile(flags.password_file);
    if (!password.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mqtt-password-file: ", password.status().message()));
    }
    options.password = std::string(absl::StripTrailingAsciiWhitespace(*password));
  }
  options.ca_file = flags.tls_ca;
  options.cert_file = flags.tls_cert;
  options.key_file = flags.tls_key;
  options.subscription = MqttBridge::InvokeFilter(flags.topic_prefix);
  // Room for the topic and properties around the largest body.
  options.max_packet_bytes = max_body_bytes + 64 * 1024;
  absl::StatusOr<std::unique_ptr<MqttClient>> client = MqttClient::Create(std::move(options));
  if (!client.ok()) return client.status();
  auto bridge = std::make_unique<MqttBridge>(
      queue, **client,
      MqttBridge::Options{.topic_prefix = flags.topic_prefix,
                          .max_body_bytes = max_body_bytes,
                          .principal = "mqtt",
                          .retry_min = std::chrono::milliseconds(50),
                          .retry_max = std::chrono::milliseconds(5000)},
      metrics);
  MqttBridge* b = bridge.get();
  (*client)->Start([b](MqttInbound m) { b->HandleMessage(std::move(m)); },
                   [b](bool up) { b->SetConnected(up); });
  return std::make_unique<MqttService>(*std::move(client), std::move(bridge));
}

}  // namespace stoa::gateway::events
