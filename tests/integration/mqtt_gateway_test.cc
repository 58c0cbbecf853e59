// MQTT through the real stoa-gateway (issue 13 items 2 and 6): a Mosquitto
// broker started by the test, the gateway with --mqtt-broker and its durable
// event queue, an executor, and mosquitto_pub/mosquitto_sub as devices.
// Skipped (saying so) while the gateway is built without the event queue
// (it refuses --mqtt-broker with exit code 2); runs once the queue is merged.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/mosquitto_fixture.h"

namespace stoa::testing {
namespace {

class MqttGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = Mosquitto::Start();
    ASSERT_NE(broker_, nullptr);
    const std::string probe_dir = MakeTempDir("mqtt-probe");
    const std::string err = probe_dir + "/stderr";
    pid_t pid =
        SpawnProgram({BinaryPath("stoa-gateway"), "--listen", "127.0.0.1:0", "--data-dir",
                      probe_dir + "/data", "--edge", "none", "--mqtt-broker", broker_->url()},
                     probe_dir + "/stdout", err);
    ASSERT_GT(pid, 0);
    absl::SleepFor(absl::Seconds(1));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 2 &&
          ReadFileOrDie(err).find("no event queue") != std::string::npos) {
        GTEST_SKIP() << "stoa-gateway is built without the event queue";
      }
    } else {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    executor_ =
        Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0", "--threads", "2"});
    ASSERT_NE(executor_, nullptr);
    data_dir_ = MakeTempDir("mqtt-gateway");
  }

  void StartGateway() {
    gateway_ =
        Process::Start(BinaryPath("stoa-gateway"),
                       {"--listen", "127.0.0.1:0", "--data-dir", data_dir_, "--cloud",
                        cloud_.empty() ? executor_->address() : cloud_, "--edge-threads", "2",
                        "--status-interval-ms", "200", "--mqtt-broker", broker_->url()});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
  }
  std::string Metrics() { return client_->Get("/metrics").body; }
  bool WaitConnected() {
    for (int i = 0; i < 500; ++i) {
      if (Metrics().find("stoa_mqtt_connected 1") != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  std::string Sample() {
    return ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
  }

  std::unique_ptr<Mosquitto> broker_;
  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::string data_dir_;
  std::string cloud_;  // the cloud tier's address; "" = executor_ directly
};

TEST_F(MqttGatewayTest, AnMqttInvocationGetsWhatTheSynchronousCallReturns) {
  StartGateway();
  ASSERT_EQ(RegisterDigits(*client_), 201);
  ASSERT_TRUE(WaitConnected());
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  HttpResult sync = client_->Post("/v1/functions/digits/invoke", Sample(), "application/json");
  ASSERT_EQ(sync.status, 200) << sync.body;
  ASSERT_EQ(broker_->Publish("stoa/invoke/digits/r-1", Sample()), 0);
  ASSERT_EQ(broker_->Publish("stoa/invoke/nosuch/r-2", Sample()), 0);
  std::vector<std::string> lines = results->WaitLines(2, 20000);
  ASSERT_EQ(lines.size(), 2u);
  std::map<std::string, std::string> by_topic;
  for (const std::string& l : lines) {
    std::vector<std::string> parts = absl::StrSplit(l, absl::MaxSplits('|', 3));
    ASSERT_EQ(parts.size(), 4u);
    by_topic[parts[0]] = parts[3];
  }
  EXPECT_EQ(nlohmann::json::parse(by_topic["stoa/result/digits/r-1"])["outputs"],
            nlohmann::json::parse(sync.body)["outputs"]);
  EXPECT_EQ(nlohmann::json::parse(by_topic["stoa/result/nosuch/r-2"])["error"]["code"],
            "NOT_FOUND");
}

// SIGKILL while messages arrive; messages published while the gateway is
// down; every request id is answered, with the same digits result, and the
// restarted gateway treats what was accepted before as duplicates.
// Some SIGKILL points leave a message accepted but not acknowledged, so the
// broker redelivers it first after the restart: the duplicate's answer once
// deadlocked the queue (fixed; DurableEventQueueTest covers it in-process).
// An event finished (durably) before the kill whose result the broker had
// not acknowledged is published again after the restart (the outbox); it
// failed about one run in eight with 99 of 100 answered without it.
TEST_F(MqttGatewayTest, EveryMessageIsAnsweredAcrossASigkill) {
  StartGateway();
  ASSERT_EQ(RegisterDigits(*client_), 201);
  ASSERT_TRUE(WaitConnected());
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/#");
  ASSERT_NE(results, nullptr);
  constexpr int kBefore = 60, kWhileDown = 40;
  for (int i = 0; i < kBefore; ++i) {
    ASSERT_EQ(broker_->Publish(absl::StrCat("stoa/invoke/digits/k-", i), Sample()), 0);
    if (i == kBefore / 2) gateway_->Signal(SIGKILL);
  }
  gateway_.reset();
  for (int i = kBefore; i < kBefore + kWhileDown; ++i) {
    ASSERT_EQ(broker_->Publish(absl::StrCat("stoa/invoke/digits/k-", i), Sample()), 0);
  }
  StartGateway();
  std::set<std::string> answered;
  std::set<std::string> bodies;
  for (int waited = 0; waited < 60000 && answered.size() < kBefore + kWhileDown; waited += 200) {
    absl::SleepFor(absl::Milliseconds(200));
    for (const std::string& l : results->Lines()) {
      std::vector<std::string> parts = absl::StrSplit(l, absl::MaxSplits('|', 3));
      if (parts.size() != 4) continue;
      answered.insert(parts[0]);
      bodies.insert(nlohmann::json::parse(parts[3])["outputs"].dump());
    }
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kBefore + kWhileDown));
  EXPECT_EQ(bodies.size(), 1u) << "the same input gave different results";
}

// Issue 13 item 4, ordered events end to end: a cloud-only function with
// "events": {"ordered": true}, the cloud behind stoa-linkem (25 ms each
// way, so a run takes at least 50 ms). Three MQTT devices (user property
// device-id) and two HTTP devices (X-Device-Id) send interleaved events; the
// gateway is SIGKILLed half way and MQTT events keep arriving while it is
// down. Each device's events complete in its acceptance order: MQTT results
// reach the subscriber in publish order (first copy of each: delivery is
// at-least-once), HTTP events finish (finished_at) in the order of their
// 202s. Were the runs of one device concurrent, they would finish within a
// few ms of each other in any order.
TEST_F(MqttGatewayTest, OrderedEventsCompleteInEachDevicesOrderAcrossASigkill) {
  auto linkem = Process::Start(BinaryPath("stoa-linkem"),
                               {"--listen", "127.0.0.1:0", "--upstream", executor_->address(),
                                "--delay-ms", "25", "--log-level", "warn"});
  ASSERT_NE(linkem, nullptr);
  cloud_ = linkem->address();
  StartGateway();
  Multipart reg = MakeRegistration(
      R"({"name":"ordered","runtime":"onnx","tiers":["cloud"],"events":{"ordered":true}})",
      DigitsModel());
  HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(WaitConnected());
  auto results = MosquittoSubscriber::Start(*broker_, "stoa/result/ordered/#");
  ASSERT_NE(results, nullptr);
  constexpr int kRounds = 10, kMqttDevices = 3, kHttpDevices = 2;
  std::map<int, std::vector<std::string>> http_ids;  // device → ids in 202 order
  for (int i = 0; i < kRounds; ++i) {
    if (i == kRounds / 2) gateway_->Signal(SIGKILL);  // the rest of the round while down
    for (int d = 0; d < kMqttDevices; ++d) {
      ASSERT_EQ(
          broker_->Publish(absl::StrCat("stoa/invoke/ordered/m", d, "-", i), Sample(),
                           {"-D", "publish", "user-property", "device-id", absl::StrCat("m", d)}),
          0);
    }
    if (i == kRounds / 2) {
      gateway_.reset();
      StartGateway();
    }
    for (int d = 0; d < kHttpDevices; ++d) {
      client_->SetHeader("Prefer", "respond-async");
      client_->SetHeader("X-Device-Id", absl::StrCat("h", d));
      client_->SetHeader("Idempotency-Key", absl::StrCat("h", d, "-", i));
      HttpResult a = client_->Post("/v1/functions/ordered/invoke", Sample(), "application/json");
      ASSERT_EQ(a.status, 202) << a.body;
      http_ids[d].push_back(nlohmann::json::parse(a.body)["id"]);
    }
  }
  client_ = std::make_unique<HttpClient>(gateway_->address());  // no async headers
  // MQTT: the first result of each request id, in arrival order.
  std::vector<std::string> first;
  std::set<std::string> seen;
  for (int waited = 0; waited < 60000 && seen.size() < kRounds * kMqttDevices; waited += 200) {
    absl::SleepFor(absl::Milliseconds(200));
    for (const std::string& l : results->Lines()) {
      std::vector<std::string> parts = absl::StrSplit(l, absl::MaxSplits('|', 3));
      if (parts.size() != 4) continue;
      const std::string request = parts[0].substr(parts[0].rfind('/') + 1);
      ASSERT_TRUE(nlohmann::json::parse(parts[3]).contains("outputs")) << l;
      if (seen.insert(request).second) first.push_back(request);
    }
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kRounds * kMqttDevices));
  for (int d = 0; d < kMqttDevices; ++d) {
    std::vector<std::string> order, expected;
    for (const std::string& request : first) {
      if (request.rfind(absl::StrCat("m", d, "-"), 0) == 0) order.push_back(request);
    }
    for (int i = 0; i < kRounds; ++i) expected.push_back(absl::StrCat("m", d, "-", i));
    EXPECT_EQ(order, expected) << "device m" << d;
  }
  // HTTP: finished in acceptance order, one at a time.
  for (const auto& [d, ids] : http_ids) {
    std::string previous;
    for (const std::string& id : ids) {
      HttpResult got;
      for (int i = 0; i < 600; ++i) {
        got = client_->Get("/v1/invocations/" + id);
        if (got.status != 202) break;
        absl::SleepFor(absl::Milliseconds(50));
      }
      ASSERT_EQ(got.status, 200) << got.body;
      nlohmann::json doc = nlohmann::json::parse(got.body);
      ASSERT_EQ(doc["status"], "succeeded") << got.body;
      const std::string finished = doc["finished_at"];
      EXPECT_LT(previous, finished) << "device h" << d << ": " << id << " finished before the one "
                                    << "accepted ahead of it";
      previous = finished;
    }
  }
}

}  // namespace
}  // namespace stoa::testing
