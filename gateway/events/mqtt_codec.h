// The MQTT 5.0 packets the gateway's bridge speaks (OASIS MQTT Version 5.0,
// §2-3): CONNECT, CONNACK, SUBSCRIBE, SUBACK, PUBLISH, PUBACK, PINGREQ,
// PINGRESP, DISCONNECT. Our own codec rather than Paho's because the bridge
// must send each PUBACK itself, once the event is durable, for many messages
// in flight at once. Debian's Paho C 1.3.12 (which Paho C++ 1.2 wraps) has
// no manual acknowledgement: checked against Mosquitto 2.0.11, it sent the
// PUBACK as soon as its delivery thread got control back, even when the
// messageArrived callback had returned 0 ("not handled"); only blocking that
// thread delays it, one message at a time, which would serialize the
// queue's group commit (docs/events.md § MQTT).
//
// Encoders return the whole packet (fixed header included). Decoders take a
// packet's body (after the fixed header) and return INVALID_ARGUMENT naming
// what is malformed; the connection that sent it is then closed.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace stoa::gateway::events::mqtt {

enum PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kSubscribe = 8,
  kSuback = 9,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// One packet cut from a byte stream: its type, the low four bits of the
// first byte, and its body.
struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string body;
};

// Cuts the first whole packet off `buffer`: nullopt when more bytes are
// needed; INVALID_ARGUMENT when the remaining length is malformed or over
// `max_packet_bytes`.
absl::StatusOr<std::optional<Frame>> TakeFrame(std::string& buffer, size_t max_packet_bytes);

struct ConnectOptions {
  std::string client_id;
  std::string username;  // "" = none
  std::string password;  // sent only with a username
  bool clean_start = false;
  uint16_t keep_alive_s = 30;
  uint32_t session_expiry_s = 0;
  uint16_t receive_maximum = 0;      // 0 = the protocol's default (65535)
  uint32_t maximum_packet_size = 0;  // 0 = no limit announced
};
std::string EncodeConnect(const ConnectOptions& options);

struct Connack {
  bool session_present = false;
  uint8_t reason_code = 0;           // 0 = success
  uint16_t receive_maximum = 65535;  // the broker's limit on our unacked publishes
  uint16_t server_keep_alive_s = 0;  // 0 = ours stands
  std::string reason_string;
};
absl::StatusOr<Connack> DecodeConnack(std::string_view body);
// The name of a CONNACK/SUBACK/PUBACK reason code ("not authorized").
std::string ReasonName(uint8_t code);

// Subscribes to one filter at QoS 1.
std::string EncodeSubscribe(uint16_t packet_id, const std::string& filter);
struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reason_codes;  // 0..2 granted QoS, >= 0x80 refused
};
absl::StatusOr<Suback> DecodeSuback(std::string_view body);

struct Publish {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packet_id = 0;  // QoS > 0 only
  std::string content_type;
  std::string response_topic;
  std::string correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;
};
std::string EncodePublish(const Publish& publish);
absl::StatusOr<Publish> DecodePublish(uint8_t flags, std::string_view body);

std::string EncodePuback(uint16_t packet_id);
// The packet id of a PUBACK and its reason code (0 = success).
absl::StatusOr<std::pair<uint16_t, uint8_t>> DecodePuback(std::string_view body);

std::string EncodePingreq();
// A normal disconnection (reason 0): the broker keeps the session for its
// expiry interval and does not publish a will.
std::string EncodeDisconnect();

}  // namespace stoa::gateway::events::mqtt
