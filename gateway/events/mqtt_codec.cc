#include "gateway/events/mqtt_codec.h"

#include "absl/strings/str_cat.h"

namespace stoa::gateway::events::mqtt {
namespace {

// Property identifiers (MQTT 5.0 §2.2.2.2).
enum Property : uint8_t {
  kPayloadFormat = 0x01,
  kMessageExpiry = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionId = 0x0B,
  kSessionExpiry = 0x11,
  kAssignedClientId = 0x12,
  kServerKeepAlive = 0x13,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
};

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void PutU32(std::string& out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v >> 16));
  PutU16(out, static_cast<uint16_t>(v & 0xFFFF));
}
void PutVarint(std::string& out, size_t v) {
  do {
    uint8_t byte = v % 128;
    v /= 128;
    if (v > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v > 0);
}
void PutString(std::string& out, std::string_view s) {
  PutU16(out, static_cast<uint16_t>(s.size()));
  out.append(s);
}
std::string Packet(uint8_t type, uint8_t flags, const std::string& body) {
  std::string out;
  out.push_back(static_cast<char>((type << 4) | flags));
  PutVarint(out, body.size());
  out += body;
  return out;
}

// Reads a body front to back; every read fails once the body runs out.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ == data_.size(); }
  std::string_view rest() const { return data_.substr(pos_); }
  bool U8(uint8_t& v) {
    if (pos_ + 1 > data_.size()) return false;
    v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U16(uint16_t& v) {
    uint8_t hi = 0, lo = 0;
    if (!U8(hi) || !U8(lo)) return false;
    v = static_cast<uint16_t>((hi << 8) | lo);
    return true;
  }
  bool U32(uint32_t& v) {
    uint16_t hi = 0, lo = 0;
    if (!U16(hi) || !U16(lo)) return false;
    v = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool Varint(size_t& v) {
    v = 0;
    for (int i = 0, shift = 0; i < 4; ++i, shift += 7) {
      uint8_t byte = 0;
      if (!U8(byte)) return false;
      v |= static_cast<size_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Bytes(size_t n, std::string& out) {
    if (pos_ + n > data_.size()) return false;
    out.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool String(std::string& out) {
    uint16_t n = 0;
    return U16(n) && Bytes(n, out);
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed MQTT ", std::string(what)));
}

// The properties of a packet we read: the ones the bridge uses are kept,
// the others skipped by their type.
struct Properties {
  std::string content_type, response_topic, correlation_data, reason_string;
  std::vector<std::pair<std::string, std::string>> user;
  std::optional<uint16_t> receive_maximum, server_keep_alive;
};

bool ReadProperty(Reader& r, uint8_t id, Properties& p) {
  uint8_t b = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  size_t varint = 0;
  std::string ignored;
  switch (id) {
    case kContentType:
      return r.String(p.content_type);
    case kResponseTopic:
      return r.String(p.response_topic);
    case kCorrelationData:
      return r.String(p.correlation_data);
    case kReasonString:
      return r.String(p.reason_string);
    case kUserProperty: {
      std::string k, v;
      if (!r.String(k) || !r.String(v)) return false;
      p.user.emplace_back(std::move(k), std::move(v));
      return true;
    }
    case kReceiveMaximum:
      if (!r.U16(u16)) return false;
      p.receive_maximum = u16;
      return true;
    case kServerKeepAlive:
      if (!r.U16(u16)) return false;
      p.server_keep_alive = u16;
      return true;
    case kPayloadFormat:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
      return r.U8(b);
    case 0x22:
    case 0x23:
      return r.U16(u16);
    case kMessageExpiry:
    case kSessionExpiry:
    case 0x18:
    case kMaximumPacketSize:
      return r.U32(u32);
    case kSubscriptionId:
      return r.Varint(varint);
    case kAssignedClientId:
    case 0x15:
    case 0x1A:
    case 0x1C:
    case 0x16:
      return r.String(ignored);
    default:
      return false;
  }
}

bool ReadProperties(Reader& r, Properties& p) {
  size_t length = 0;
  std::string block;
  if (!r.Varint(length) || !r.Bytes(length, block)) return false;
  Reader props(block);
  while (!props.done()) {
    uint8_t id = 0;
    if (!props.U8(id) || !ReadProperty(props, id, p)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::optional<Frame>> TakeFrame(std::string& buffer, size_t max_packet_bytes) {
  size_t length = 0;
  size_t header = 1;
  for (int shift = 0;; shift += 7, ++header) {
    if (header > 4) return Malformed("remaining length (over four bytes)");
    if (buffer.size() <= header) return std::optional<Frame>();
    const auto byte = static_cast<uint8_t>(buffer[header]);
    length |= static_cast<size_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) break;
  }
  ++header;
  if (max_packet_bytes != 0 && header + length > max_packet_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MQTT packet of ", header + length, " bytes is over the limit of ", max_packet_bytes));
  }
  if (buffer.size() < header + length) return std::optional<Frame>();
  Frame frame;
  frame.type = static_cast<uint8_t>(buffer[0]) >> 4;
  frame.flags = static_cast<uint8_t>(buffer[0]) & 0x0F;
  frame.body = buffer.substr(header, length);
  buffer.erase(0, header + length);
  return std::optional<Frame>(std::move(frame));
}

std::string EncodeConnect(const ConnectOptions& o) {
  std::string body;
  PutString(body, "MQTT");
  body.push_back(5);
  uint8_t flags = o.clean_start ? 0x02 : 0;
  if (!o.username.empty()) flags |= 0x80 | 0x40;
  body.push_back(static_cast<char>(flags));
  PutU16(body, o.keep_alive_s);
  std::string props;
  if (o.session_expiry_s != 0) {
    props.push_back(kSessionExpiry);
    PutU32(props, o.session_expiry_s);
  }
  if (o.receive_maximum != 0) {
    props.push_back(kReceiveMaximum);
    PutU16(props, o.receive_maximum);
  }
  if (o.maximum_packet_size != 0) {
    props.push_back(kMaximumPacketSize);
    PutU32(props, o.maximum_packet_size);
  }
  PutVarint(body, props.size());
  body += props;
  PutString(body, o.client_id);
  if (!o.username.empty()) {
    PutString(body, o.username);
    PutString(body, o.password);
  }
  return Packet(kConnect, 0, body);
}

absl::StatusOr<Connack> DecodeConnack(std::string_view body) {
  Reader r(body);
  Connack c;
  uint8_t flags = 0;
  Properties p;
  if (!r.U8(flags) || !r.U8(c.reason_code)) return Malformed("CONNACK");
  // A v3 broker answers a v5 CONNECT with a two-byte CONNACK (code 1).
  if (!r.done() && !ReadProperties(r, p)) return Malformed("CONNACK properties");
  c.session_present = (flags & 0x01) != 0;
  if (p.receive_maximum) c.receive_maximum = *p.receive_maximum;
  if (p.server_keep_alive) c.server_keep_alive_s = *p.server_keep_alive;
  c.reason_string = p.reason_string;
  return c;
}

std::string ReasonName(uint8_t code) {
  switch (code) {
    case 0x00:
      return "success";
    case 0x01:
      return "unacceptable protocol version (a broker without MQTT 5?)";
    case 0x80:
      return "unspecified error";
    case 0x81:
      return "malformed packet";
    case 0x84:
      return "unsupported protocol version (the broker needs MQTT 5)";
    case 0x85:
      return "client identifier not valid";
    case 0x86:
      return "bad user name or password";
    case 0x87:
      return "not authorized";
    case 0x88:
      return "server unavailable";
    case 0x89:
      return "server busy";
    case 0x8A:
      return "banned";
    case 0x8F:
      return "topic filter invalid";
    case 0x90:
      return "topic name invalid";
    case 0x97:
      return "quota exceeded";
    case 0x99:
      return "payload format invalid";
    default:
      return absl::StrCat("reason code 0x", absl::Hex(code));
  }
}

std::string EncodeSubscribe(uint16_t packet_id, const std::string& filter) {
  std::string body;
  PutU16(body, packet_id);
  PutVarint(body, 0);  // no properties
  PutString(body, filter);
  body.push_back(0x01);  // QoS 1, local messages too, retain as published
  return Packet(kSubscribe, 0x02, body);
}

absl::StatusOr<Suback> DecodeSuback(std::string_view body) {
  Reader r(body);
  Suback s;
  Properties p;
  if (!r.U16(s.packet_id) || !ReadProperties(r, p)) return Malformed("SUBACK");
  for (char c : r.rest()) s.reason_codes.push_back(static_cast<uint8_t>(c));
  return s;
}

std::string EncodePublish(const Publish& m) {
  std::string body;
  PutString(body, m.topic);
  if (m.qos > 0) PutU16(body, m.packet_id);
  std::string props;
  auto put = [&props](uint8_t id, const std::string& value) {
    if (value.empty()) return;
    props.push_back(static_cast<char>(id));
    PutString(props, value);
  };
  put(kContentType, m.content_type);
  put(kResponseTopic, m.response_topic);
  put(kCorrelationData, m.correlation_data);
  for (const auto& [k, v] : m.user_properties) {
    props.push_back(kUserProperty);
    PutString(props, k);
    PutString(props, v);
  }
  PutVarint(body, props.size());
  body += props;
  body += m.payload;
  const uint8_t flags = (m.dup ? 0x08 : 0) | (m.qos << 1) | (m.retain ? 0x01 : 0);
  return Packet(kPublish, flags, body);
}

absl::StatusOr<Publish> DecodePublish(uint8_t flags, std::string_view body) {
  Publish m;
  m.dup = (flags & 0x08) != 0;
  m.qos = (flags >> 1) & 0x03;
  m.retain = (flags & 0x01) != 0;
  if (m.qos > 2) return Malformed("PUBLISH (QoS 3)");
  Reader r(body);
  Properties p;
  if (!r.String(m.topic)) return Malformed("PUBLISH topic");
  if (m.qos > 0 && !r.U16(m.packet_id)) return Malformed("PUBLISH packet id");
  if (!ReadProperties(r, p)) return Malformed("PUBLISH properties");
  m.payload = std::string(r.rest());
  m.content_type = std::move(p.content_type);
  m.response_topic = std::move(p.response_topic);
  m.correlation_data = std::move(p.correlation_data);
  m.user_properties = std::move(p.user);
  return m;
}

std::string EncodePuback(uint16_t packet_id) {
  std::string body;
  PutU16(body, packet_id);  // success, no properties: the short form
  return Packet(kPuback, 0, body);
}

absl::StatusOr<std::pair<uint16_t, uint8_t>> DecodePuback(std::string_view body) {
  Reader r(body);
  uint16_t id = 0;
  uint8_t reason = 0;
  if (!r.U16(id)) return Malformed("PUBACK");
  if (!r.done() && !r.U8(reason)) return Malformed("PUBACK reason");
  return std::pair<uint16_t, uint8_t>(id, reason);
}

std::string EncodePingreq() { return Packet(kPingreq, 0, ""); }

std::string EncodeDisconnect() { return Packet(kDisconnect, 0, ""); }

}  // namespace stoa::gateway::events::mqtt
