// The MQTT 5 codec: packets as the specification lays them out, and bad
// bytes refused.
#include "gateway/events/mqtt_codec.h"

#include <gtest/gtest.h>

namespace stoa::gateway::events::mqtt {
namespace {

Frame Take(std::string bytes) {
  absl::StatusOr<std::optional<Frame>> frame = TakeFrame(bytes, 0);
  EXPECT_TRUE(frame.ok() && frame->has_value());
  EXPECT_TRUE(bytes.empty());
  return **frame;
}

TEST(MqttCodecTest, ConnectAsTheSpecificationSpellsIt) {
  const std::string p = EncodeConnect({.client_id = "gw",
                                       .username = "u",
                                       .password = "pw",
                                       .clean_start = false,
                                       .keep_alive_s = 30,
                                       .session_expiry_s = 3600,
                                       .receive_maximum = 0,
                                       .maximum_packet_size = 0});
  const std::string expected =
      std::string("\x10\x1b\x00\x04MQTT\x05\xc0\x00\x1e\x05\x11\x00\x00\x0e\x10", 18) +
      std::string("\x00\x02gw\x00\x01u\x00\x02pw", 11);
  EXPECT_EQ(p, expected);
}

TEST(MqttCodecTest, PublishRoundTripsWithProperties) {
  Publish m;
  m.topic = "stoa/result/f/r";
  m.payload = std::string(300, 'p');  // a two-byte remaining length
  m.qos = 1;
  m.dup = true;
  m.packet_id = 513;
  m.content_type = "application/json";
  m.response_topic = "reply/here";
  m.correlation_data = std::string("\x00\xff", 2);
  m.user_properties = {{"device-id", "d1"}};
  Frame f = Take(EncodePublish(m));
  EXPECT_EQ(f.type, kPublish);
  EXPECT_EQ(f.flags, 0x0a);
  absl::StatusOr<Publish> back = DecodePublish(f.flags, f.body);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->topic, m.topic);
  EXPECT_EQ(back->payload, m.payload);
  EXPECT_EQ(back->packet_id, 513);
  EXPECT_TRUE(back->dup);
  EXPECT_EQ(back->qos, 1);
  EXPECT_EQ(back->content_type, m.content_type);
  EXPECT_EQ(back->response_topic, m.response_topic);
  EXPECT_EQ(back->correlation_data, m.correlation_data);
  EXPECT_EQ(back->user_properties, m.user_properties);
}

TEST(MqttCodecTest, PublishSkipsPropertiesItDoesNotUse) {
  // QoS 0, topic "t", properties: payload format 1, message expiry 60,
  // subscription identifier 7; payload "x".
  const std::string body = std::string("\x00\x01t\x09\x01\x01\x02\x00\x00\x00\x3c\x0b\x07x", 14);
  absl::StatusOr<Publish> m = DecodePublish(0, body);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->topic, "t");
  EXPECT_EQ(m->payload, "x");
  EXPECT_EQ(m->packet_id, 0);
}

TEST(MqttCodecTest, MalformedPublishesAreRefused) {
  EXPECT_FALSE(DecodePublish(0x02, std::string("\x00\x05t", 3)).ok());      // short topic
  EXPECT_FALSE(DecodePublish(0x02, std::string("\x00\x01t\x00", 4)).ok());  // no properties
  EXPECT_FALSE(DecodePublish(0x02, std::string("\x00\x01t\x00\x01\x02\x7f", 7)).ok());  // bad id
  EXPECT_FALSE(DecodePublish(0x06, std::string("\x00\x01t\x00\x01\x00", 6)).ok());      // QoS 3
}

TEST(MqttCodecTest, TakeFrameWaitsForWholePacketsAndRefusesBadLengths) {
  std::string bytes = EncodePuback(7) + EncodePingreq();
  std::string partial = bytes.substr(0, 3);
  absl::StatusOr<std::optional<Frame>> none = TakeFrame(partial, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  absl::StatusOr<std::optional<Frame>> first = TakeFrame(bytes, 0);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->type, kPuback);
  auto ack = DecodePuback((*first)->body);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->first, 7);
  EXPECT_EQ(ack->second, 0);
  EXPECT_EQ(Take(bytes).type, kPingreq);

  std::string five_byte_length("\x30\xff\xff\xff\xff\x01", 6);
  EXPECT_FALSE(TakeFrame(five_byte_length, 0).ok());
  Publish big;
  big.topic = "t";
  big.payload = std::string(20000, 'x');  // a three-byte remaining length
  std::string encoded = EncodePublish(big);
  absl::StatusOr<std::optional<Frame>> over = TakeFrame(encoded, 1000);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("over the limit of 1000"), std::string::npos);
  EXPECT_EQ(DecodePublish(0, Take(EncodePublish(big)).body)->payload.size(), 20000u);
}

TEST(MqttCodecTest, ConnackAndSuback) {
  // Session present, success, receive maximum 20, reason string "ok".
  absl::StatusOr<Connack> c =
      DecodeConnack(std::string("\x01\x00\x08\x21\x00\x14\x1f\x00\x02ok", 11));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->session_present);
  EXPECT_EQ(c->receive_maximum, 20);
  EXPECT_EQ(c->reason_string, "ok");
  absl::StatusOr<Connack> v3 = DecodeConnack(std::string("\x00\x01", 2));
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->reason_code, 1);
  EXPECT_NE(ReasonName(1).find("MQTT 5"), std::string::npos);
  EXPECT_FALSE(DecodeConnack(std::string("\x00", 1)).ok());

  Frame sub = Take(EncodeSubscribe(1, "stoa/invoke/+/+"));
  EXPECT_EQ(sub.type, kSubscribe);
  EXPECT_EQ(sub.flags, 0x02);
  absl::StatusOr<Suback> s = DecodeSuback(std::string("\x00\x01\x00\x01", 4));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->packet_id, 1);
  EXPECT_EQ(s->reason_codes, std::vector<uint8_t>{1});
}

}  // namespace
}  // namespace stoa::gateway::events::mqtt
