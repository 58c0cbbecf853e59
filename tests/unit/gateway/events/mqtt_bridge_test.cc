// MqttBridge against an in-memory session and queue: what is submitted, when
// the PUBACK goes, what is published back.
#include "gateway/events/mqtt_bridge.h"

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/unit/gateway/events/mqtt_fake_event_queue.h"

namespace stoa::gateway::events {
namespace {

using testing::MqttFakeEventQueue;

// Records acknowledgements and publishes.
class RecordingSession final : public MqttSession {
 public:
  void Acknowledge(AckToken token) override {
    absl::MutexLock lock(&mu_);
    acks_.push_back(token.packet_id);
  }
  void Publish(MqttOutbound message) override {
    absl::MutexLock lock(&mu_);
    published_.push_back(std::move(message));
  }
  bool connected() const override { return true; }
  std::vector<uint16_t> acks() const {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  std::vector<MqttOutbound> published() const {
    absl::MutexLock lock(&mu_);
    return published_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint16_t> acks_ ABSL_GUARDED_BY(mu_);
  std::vector<MqttOutbound> published_ ABSL_GUARDED_BY(mu_);
};

MqttInbound Message(const std::string& topic, const std::string& payload, uint16_t id) {
  MqttInbound m;
  m.topic = topic;
  m.payload = payload;
  m.ack = {.connection = 1, .packet_id = id};
  return m;
}

class MqttBridgeTest : public ::testing::Test {
 protected:
  explicit MqttBridgeTest(bool hold = true) : queue_(hold) {}
  MqttBridge::Options Options() {
    MqttBridge::Options o;
    o.max_body_bytes = 64;
    o.retry_min = std::chrono::milliseconds(1);
    o.retry_max = std::chrono::milliseconds(5);
    return o;
  }
  bool Wait(const std::function<bool()>& done) { return queue_.WaitFor(done, absl::Seconds(5)); }
  std::string Metrics() { return metrics_.Serialize(); }

  MqttFakeEventQueue queue_;
  RecordingSession session_;
  common::metrics::Registry metrics_;
};

TEST_F(MqttBridgeTest, AcknowledgesOnlyOnceDurableThenPublishesTheResult) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/echo/req-1", "{\"x\":1}", 7));
  ASSERT_TRUE(Wait([&] { return queue_.held() == 1; }));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(session_.acks().empty()) << "PUBACK before the event was durable";

  std::vector<EventSubmission> subs = queue_.submissions();
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].function, "echo");
  EXPECT_EQ(subs[0].dedup_key, "mqtt:echo:req-1");
  EXPECT_EQ(subs[0].reply_to, "stoa/result/echo/req-1");
  EXPECT_EQ(subs[0].origin.source, EventOrigin::Source::kMqtt);
  EXPECT_EQ(subs[0].body, "{\"x\":1}");
  EXPECT_EQ(subs[0].content_type, "application/json");

  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  EXPECT_EQ(session_.acks(), std::vector<uint16_t>{7});
  MqttOutbound result = session_.published()[0];
  EXPECT_EQ(result.topic, "stoa/result/echo/req-1");
  EXPECT_EQ(result.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(result.payload)["echo"], "{\"x\":1}");
  EXPECT_NE(Metrics().find("stoa_mqtt_messages_total{outcome=\"accepted\"} 1"), std::string::npos)
      << Metrics();
  // The broker's PUBACK of the result is recorded in the queue (the outbox);
  // before it, nothing is.
  EXPECT_TRUE(queue_.delivered().empty());
  ASSERT_TRUE(result.on_delivered);
  result.on_delivered();
  EXPECT_EQ(queue_.delivered(), (std::map<std::string, int>{{"ev1", 1}}));
}

TEST_F(MqttBridgeTest, UsesTheResponseTopicCorrelationDataAndDeviceId) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  MqttInbound m = Message("stoa/invoke/echo/r2", "hi", 3);
  m.response_topic = "devices/d1/replies";
  m.correlation_data = std::string("\x00\x01corr", 6);
  m.content_type = "text/plain";
  m.user_properties = {{"other", "x"}, {"device-id", "sensor-9"}};
  bridge.HandleMessage(m);
  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  EventSubmission s = queue_.submissions()[0];
  EXPECT_EQ(s.origin.device_id, "sensor-9");
  EXPECT_EQ(s.content_type, "text/plain");
  EXPECT_EQ(s.reply_to, "devices/d1/replies");
  MqttOutbound out = session_.published()[0];
  EXPECT_EQ(out.topic, "devices/d1/replies");
  EXPECT_EQ(out.correlation_data, std::string("\x00\x01corr", 6));
}

TEST_F(MqttBridgeTest, TheSameRequestIdRunsOnceAndARedeliveryGetsTheResultAgain) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/echo/same", "a", 1));
  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  bridge.HandleMessage(Message("stoa/invoke/echo/same", "a", 2));  // redelivered
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 2; }));
  EXPECT_EQ(session_.acks(), (std::vector<uint16_t>{1, 2}));
  EXPECT_EQ(queue_.runs().at("mqtt:echo:same"), 1);
  EXPECT_EQ(session_.published()[1].payload, session_.published()[0].payload);
  EXPECT_NE(Metrics().find("stoa_mqtt_messages_total{outcome=\"duplicate\"} 1"), std::string::npos);
}

TEST_F(MqttBridgeTest, BadMessagesAreAcknowledgedAndAnsweredWithAnError) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/Bad Name!/r1", "{}", 1));
  bridge.HandleMessage(Message("stoa/invoke/echo/has space", "{}", 2));
  bridge.HandleMessage(Message(absl::StrCat("stoa/invoke/echo/", std::string(129, 'a')), "{}", 3));
  bridge.HandleMessage(Message("stoa/invoke/echo/big", std::string(65, 'x'), 4));
  ASSERT_EQ(session_.published().size(), 4u);
  EXPECT_EQ(session_.acks(), (std::vector<uint16_t>{1, 2, 3, 4}));
  EXPECT_TRUE(queue_.submissions().empty());
  const std::vector<MqttOutbound> out = session_.published();
  EXPECT_EQ(out[0].topic, "stoa/result/Bad Name!/r1");
  for (const MqttOutbound& o : out) {
    nlohmann::json error = nlohmann::json::parse(o.payload)["error"];
    EXPECT_EQ(error["code"], "INVALID_ARGUMENT") << o.payload;
  }
  EXPECT_NE(out[1].payload.find("request id may hold only"), std::string::npos) << out[1].payload;
  EXPECT_NE(out[2].payload.find("1 to 128 bytes"), std::string::npos) << out[2].payload;
  EXPECT_NE(out[3].payload.find("over the body limit of 64 bytes"), std::string::npos);
  EXPECT_NE(Metrics().find("stoa_mqtt_messages_total{outcome=\"invalid\"} 4"), std::string::npos);
}

TEST_F(MqttBridgeTest, AnUnknownFunctionIsAcknowledgedAndAnsweredNotFound) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/nosuch/r1", "{}", 9));
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  EXPECT_EQ(session_.acks(), std::vector<uint16_t>{9});
  nlohmann::json error = nlohmann::json::parse(session_.published()[0].payload)["error"];
  EXPECT_EQ(error["code"], "NOT_FOUND");
  EXPECT_EQ(error["message"], "function nosuch not found");
}

TEST_F(MqttBridgeTest, OverBudgetIsNotAcknowledgedAndIsRetriedUntilAccepted) {
  MqttFakeEventQueue queue(/*hold_durable=*/false);
  queue.SetExhausted(true);
  MqttBridge bridge(queue, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/echo/later", "{}", 5));
  ASSERT_TRUE(queue.WaitFor([&] { return queue.submissions().size() >= 3; }, absl::Seconds(5)));
  EXPECT_TRUE(session_.acks().empty()) << "acknowledged while the queue refused it";
  EXPECT_EQ(queue.accepted(), 0u);
  queue.SetExhausted(false);
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  EXPECT_EQ(session_.acks(), std::vector<uint16_t>{5});
  EXPECT_EQ(queue.runs().at("mqtt:echo:later"), 1);
  EXPECT_EQ(Metrics().find("stoa_mqtt_messages_total{outcome=\"deferred\"} 0\n"), std::string::npos)
      << Metrics();
}

TEST_F(MqttBridgeTest, AFailedEventIsPublishedAsAnErrorObject) {
  MqttBridge bridge(queue_, session_, Options(), metrics_);
  bridge.HandleMessage(Message("stoa/invoke/fail/r1", "{}", 1));
  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  nlohmann::json body = nlohmann::json::parse(session_.published()[0].payload);
  EXPECT_EQ(body["error"]["code"], "INTERNAL");
  EXPECT_EQ(body["error"]["message"], "the function failed");
  EXPECT_EQ(session_.published()[0].content_type, "application/json");
}

TEST_F(MqttBridgeTest, CallbacksAfterTheBridgeIsGoneDoNothing) {
  {
    MqttBridge bridge(queue_, session_, Options(), metrics_);
    bridge.HandleMessage(Message("stoa/invoke/echo/r1", "{}", 1));
    ASSERT_TRUE(Wait([&] { return queue_.held() == 1; }));
  }
  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return queue_.runs().size() == 1; }));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(session_.acks().empty());
  EXPECT_TRUE(session_.published().empty());
}

TEST_F(MqttBridgeTest, ACustomPrefixAndItsFilter) {
  MqttBridge::Options o = Options();
  o.topic_prefix = "site/a";
  EXPECT_EQ(MqttBridge::InvokeFilter("site/a"), "site/a/invoke/+/+");
  MqttBridge bridge(queue_, session_, o, metrics_);
  bridge.HandleMessage(Message("site/a/invoke/echo/r1", "{}", 1));
  queue_.ReleaseDurable();
  ASSERT_TRUE(Wait([&] { return session_.published().size() == 1; }));
  EXPECT_EQ(session_.published()[0].topic, "site/a/result/echo/r1");
}

TEST(ValidateRequestIdTest, Rules) {
  EXPECT_TRUE(ValidateRequestId("a-B_9.z").ok());
  EXPECT_TRUE(ValidateRequestId(std::string(128, 'a')).ok());
  EXPECT_FALSE(ValidateRequestId("").ok());
  EXPECT_FALSE(ValidateRequestId(std::string(129, 'a')).ok());
  EXPECT_FALSE(ValidateRequestId("a:b").ok());
  EXPECT_FALSE(ValidateRequestId("a\xc3\xa9").ok());
}

}  // namespace
}  // namespace stoa::gateway::events
