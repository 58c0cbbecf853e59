// The MQTT bridge against a real Mosquitto broker, with Mosquitto's own
// mosquitto_pub/mosquitto_sub as devices (issue 13 item 2). "The gateway" is
// the real client and bridge (StartMqtt, as stoa-gateway builds them) on a
// small in-memory EventQueue (tests/unit/gateway/events/mqtt_fake_event_queue.h)
// standing in for the durable queue, which another branch builds: a restart
// rebuilds client and bridge and keeps the queue (its disk), a crash before
// durability starts over with an empty one. mqtt_gateway_test.cc runs the
// same flows through stoa-gateway once the queue is merged.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "gateway/events/mqtt_flags.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/mosquitto_fixture.h"
#include "tests/unit/gateway/events/mqtt_fake_event_queue.h"

namespace stoa::testing {
namespace {

using gateway::events::MqttFlags;
using gateway::events::MqttService;
using gateway::events::testing::MqttFakeEventQueue;

struct Gateway {
  std::unique_ptr<common::metrics::Registry> metrics;
  std::unique_ptr<MqttService> mqtt;
};

// One result line from mosquitto_sub: topic|content type|correlation|payload.
struct Line {
  std::string topic, content_type, correlation, payload;
};
Line Parse(const std::string& line) {
  std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits('|', 3));
  parts.resize(4);
  return {parts[0], parts[1], parts[2], parts[3]};
}

class MqttBridgeBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = Mosquitto::Start();
    ASSERT_NE(broker_, nullptr);
    data_dir_ = MakeTempDir("gateway-data");
  }

  Gateway StartGateway(MqttFakeEventQueue& queue, const std::string& url = "") {
    Gateway g;
    g.metrics = std::make_unique<common::metrics::Registry>();
    MqttFlags flags;
    flags.broker = url.empty() ? broker_->url() : url;
    auto mqtt = gateway::events::StartMqtt(flags, data_dir_, queue, 1 << 20, *g.metrics);
    EXPECT_TRUE(mqtt.ok()) << mqtt.status();
    if (mqtt.ok()) g.mqtt = *std::move(mqtt);
    return g;
  }
  static bool WaitConnected(const Gateway& g, int timeout_ms = 10000) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      if (g.mqtt->connected()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  static std::string Metric(const Gateway& g, const std::string& outcome) {
    const std::string text = g.metrics->Serialize();
    const std::string key = absl::StrCat("stoa_mqtt_messages_total{outcome=\"", outcome, "\"} ");
    size_t at = text.find(key);
    return at == std::string::npos
               ? ""
               : text.substr(at + key.size(), text.find('\n', at) - at - key.size());
  }

  std::unique_ptr<Mosquitto> broker_;
  std::string data_dir_;
};

TEST_F(MqttBridgeBrokerTest, ResultsReachTheDeviceWithCorrelationData) {
  MqttFakeEventQueue queue;
  Gateway gw = StartGateway(queue);
  ASSERT_TRUE(WaitConnected(gw));
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  auto replies = MosquittoSubscriber::Start(*broker_, "devices/d1/replies");
  ASSERT_TRUE(results && replies);

  ASSERT_EQ(broker_->Publish("stoa/invoke/echo/req-1", "{\"x\":1}"), 0);
  ASSERT_EQ(broker_->Publish("stoa/invoke/echo/req-2", "hello",
                             {"-D", "publish", "response-topic", "devices/d1/replies", "-D",
                              "publish", "correlation-data", "corr-42", "-D", "publish",
                              "user-property", "device-id", "d1"}),
            0);
  std::vector<std::string> lines = results->WaitLines(1, 10000);
  ASSERT_EQ(lines.size(), 1u);
  Line r1 = Parse(lines[0]);
  EXPECT_EQ(r1.topic, "stoa/result/echo/req-1");
  EXPECT_EQ(r1.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r1.payload)["echo"], "{\"x\":1}");
  lines = replies->WaitLines(1, 10000);
  ASSERT_EQ(lines.size(), 1u);
  Line r2 = Parse(lines[0]);
  EXPECT_EQ(r2.correlation, "corr-42");
  EXPECT_EQ(nlohmann::json::parse(r2.payload)["echo"], "hello");
  std::vector<gateway::events::EventSubmission> subs = queue.submissions();
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[1].origin.device_id, "d1");
  EXPECT_EQ(Metric(gw, "accepted"), "2");
}

TEST_F(MqttBridgeBrokerTest, MessagesPublishedWhileTheGatewayIsDownAreAnsweredAfterItRestarts) {
  MqttFakeEventQueue queue;
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  {
    Gateway gw = StartGateway(queue);
    ASSERT_TRUE(WaitConnected(gw));  // the persistent session exists from here
  }
  constexpr int kMessages = 20;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(broker_->Publish(absl::StrCat("stoa/invoke/echo/offline-", i), "{}"), 0);
  }
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(results->Lines().empty());
  Gateway gw = StartGateway(queue);
  std::vector<std::string> lines = results->WaitLines(kMessages, 15000);
  EXPECT_EQ(lines.size(), static_cast<size_t>(kMessages));
  std::map<std::string, int> runs = queue.runs();
  EXPECT_EQ(runs.size(), static_cast<size_t>(kMessages));
  for (const auto& [key, n] : runs) EXPECT_EQ(n, 1) << key;
}

TEST_F(MqttBridgeBrokerTest, NoPubackBeforeDurableSoACrashBeforeItLosesNothing) {
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  {
    MqttFakeEventQueue held(/*hold_durable=*/true);
    Gateway gw = StartGateway(held);
    ASSERT_TRUE(WaitConnected(gw));
    ASSERT_EQ(broker_->Publish("stoa/invoke/echo/crash-1", "{\"n\":1}"), 0);
    ASSERT_TRUE(held.WaitFor([&] { return held.held() == 1; }, absl::Seconds(10)));
    // "Crash": the bridge goes away before the event is durable.
  }
  MqttFakeEventQueue fresh;  // nothing reached the disk
  Gateway gw = StartGateway(fresh);
  std::vector<std::string> lines = results->WaitLines(1, 10000);
  ASSERT_EQ(lines.size(), 1u) << "the broker did not redeliver the unacknowledged message";
  EXPECT_EQ(Parse(lines[0]).topic, "stoa/result/echo/crash-1");
  EXPECT_EQ(fresh.runs().at("mqtt:echo:crash-1"), 1);
}

TEST_F(MqttBridgeBrokerTest, ARedeliveryAfterTheAckWasLostRunsOnce) {
  MqttFakeEventQueue queue;
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  {
    queue.DropNextAck();  // durable and run, but the PUBACK never goes out
    Gateway gw = StartGateway(queue);
    ASSERT_TRUE(WaitConnected(gw));
    ASSERT_EQ(broker_->Publish("stoa/invoke/echo/once", "{}"), 0);
    ASSERT_EQ(results->WaitLines(1, 10000).size(), 1u);
  }
  {
    Gateway gw = StartGateway(queue);  // the broker redelivers "once"
    ASSERT_TRUE(queue.WaitFor([&] { return queue.submissions().size() == 2; }, absl::Seconds(10)));
    ASSERT_EQ(results->WaitLines(2, 10000).size(), 2u);  // its result again
    EXPECT_EQ(Metric(gw, "duplicate"), "1");
  }
  EXPECT_EQ(queue.runs().at("mqtt:echo:once"), 1);
  Gateway gw = StartGateway(queue);  // acknowledged this time: nothing comes back
  ASSERT_TRUE(WaitConnected(gw));
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(queue.submissions().size(), 2u);
}

TEST_F(MqttBridgeBrokerTest, OverBudgetMessagesStayWithTheBroker) {
  MqttFakeEventQueue queue;
  queue.SetExhausted(true);
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  {
    Gateway gw = StartGateway(queue);
    ASSERT_TRUE(WaitConnected(gw));
    ASSERT_EQ(broker_->Publish("stoa/invoke/echo/busy", "{}"), 0);
    ASSERT_TRUE(queue.WaitFor([&] { return queue.submissions().size() >= 2; }, absl::Seconds(10)));
    EXPECT_TRUE(results->Lines().empty());
  }
  queue.SetExhausted(false);
  Gateway gw = StartGateway(queue);
  ASSERT_EQ(results->WaitLines(1, 10000).size(), 1u);
  EXPECT_EQ(queue.runs().at("mqtt:echo:busy"), 1);
}

TEST_F(MqttBridgeBrokerTest, ABrokerDownAtStartIsWaitedForAndARestartedOneReconnected) {
  const int port = FreeLoopbackPort();
  MqttFakeEventQueue queue;
  Gateway gw = StartGateway(queue, absl::StrCat("tcp://127.0.0.1:", port));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(gw.mqtt->connected());
  EXPECT_NE(gw.metrics->Serialize().find("stoa_mqtt_connected 0"), std::string::npos);
  auto broker = Mosquitto::Start(port);
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(WaitConnected(gw, 15000));
  EXPECT_NE(gw.metrics->Serialize().find("stoa_mqtt_connected 1"), std::string::npos);
  ASSERT_TRUE(broker->Restart());
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(WaitConnected(gw, 15000));
  auto results = MosquittoSubscriber::Start(*broker, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  ASSERT_EQ(broker->Publish("stoa/invoke/echo/after-restart", "{}"), 0);
  EXPECT_EQ(results->WaitLines(1, 10000).size(), 1u);
}

TEST_F(MqttBridgeBrokerTest, MessagesQueuedForTheGatewaySurviveABrokerRestart) {
  MqttFakeEventQueue queue;
  {
    Gateway gw = StartGateway(queue);
    ASSERT_TRUE(WaitConnected(gw));
  }
  ASSERT_EQ(broker_->Publish("stoa/invoke/echo/kept", "{}"), 0);
  ASSERT_TRUE(broker_->Restart());  // Mosquitto persists sessions and queued messages
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  Gateway gw = StartGateway(queue);
  ASSERT_EQ(results->WaitLines(1, 10000).size(), 1u);
  EXPECT_EQ(queue.runs().at("mqtt:echo:kept"), 1);
}

TEST_F(MqttBridgeBrokerTest, BadMessagesAreAnsweredAndNotRedelivered) {
  MqttFakeEventQueue queue;
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  {
    Gateway gw = StartGateway(queue);
    ASSERT_TRUE(WaitConnected(gw));
    ASSERT_EQ(broker_->Publish("stoa/invoke/No_Such Fn/r1", "{}"), 0);
    ASSERT_EQ(broker_->Publish("stoa/invoke/nosuch/r2", "{}"), 0);
    std::vector<std::string> lines = results->WaitLines(2, 10000);
    ASSERT_EQ(lines.size(), 2u);
    std::map<std::string, std::string> codes;
    for (const std::string& l : lines) {
      Line line = Parse(l);
      codes[line.topic] = nlohmann::json::parse(line.payload)["error"]["code"];
    }
    EXPECT_EQ(codes["stoa/result/No_Such Fn/r1"], "INVALID_ARGUMENT");
    EXPECT_EQ(codes["stoa/result/nosuch/r2"], "NOT_FOUND");
    EXPECT_EQ(Metric(gw, "invalid"), "1");
    EXPECT_EQ(Metric(gw, "rejected"), "1");
  }
  Gateway gw = StartGateway(queue);
  ASSERT_TRUE(WaitConnected(gw));
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(results->Lines().size(), 2u);
  EXPECT_EQ(Metric(gw, "invalid"), "0");
}

TEST_F(MqttBridgeBrokerTest, BadFlagsAreRefusedNamingTheFlag) {
  MqttFakeEventQueue queue;
  common::metrics::Registry metrics;
  MqttFlags flags;
  flags.broker = "http://127.0.0.1:1883";
  auto bad = gateway::events::StartMqtt(flags, data_dir_, queue, 1024, metrics);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--mqtt-broker"), std::string::npos);
  flags.broker = broker_->url();
  flags.topic_prefix = "stoa/#";
  bad = gateway::events::StartMqtt(flags, data_dir_, queue, 1024, metrics);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--mqtt-topic-prefix"), std::string::npos);
  flags.topic_prefix = "stoa";
  flags.username = "u";
  flags.password_file = "/nonexistent/password";
  bad = gateway::events::StartMqtt(flags, data_dir_, queue, 1024, metrics);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--mqtt-password-file"), std::string::npos);
  EXPECT_EQ(gateway::events::DefaultMqttClientId(data_dir_),
            gateway::events::DefaultMqttClientId(data_dir_ + "/."));
}

}  // namespace
}  // namespace stoa::testing
