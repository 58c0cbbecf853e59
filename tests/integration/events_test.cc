// Issue 13: asynchronous HTTP invocations through the durable queue, with
// real processes: stoa-gateway (in-process edge) + a stoa-executor as the
// cloud tier behind stoa-linkem. The gateway is SIGKILLed while clients
// submit; after the restart every accepted (202) event finishes exactly
// once with the synchronous call's result, fetched by id, and the same
// Idempotency-Key gives the same id across the restart.
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::unique_ptr<Process> StartGateway(const std::string& data_dir, const std::string& cloud) {
  return Process::Start(
      BinaryPath("stoa-gateway"),
      {"--listen", "127.0.0.1:0", "--data-dir", data_dir, "--cloud", cloud, "--edge-threads", "2",
       "--status-interval-ms", "200", "--log-level", "warn"});
}

HttpResult PostAsync(HttpClient& client, const std::string& target, const std::string& body,
                     const std::string& key) {
  client.SetHeader("Prefer", "respond-async");
  client.SetHeader("Idempotency-Key", key);
  return client.Post(target, body, "application/json");
}

// Polls GET /v1/invocations/{id} until it is final (200); the last answer.
HttpResult WaitFinished(HttpClient& client, const std::string& id) {
  HttpResult r;
  for (int i = 0; i < 600; ++i) {
    r = client.Get("/v1/invocations/" + id);
    if (r.status != 202) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r;
}

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    executor_ = Process::Start(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--threads", "2", "--device", "cpu"});
    ASSERT_NE(executor_, nullptr);
    linkem_ = Process::Start(BinaryPath("stoa-linkem"),
                             {"--listen", "127.0.0.1:0", "--upstream", executor_->address(),
                              "--delay-ms", "5", "--log-level", "warn"});
    ASSERT_NE(linkem_, nullptr);
    data_dir_ = MakeTempDir("events");
    gateway_ = StartGateway(data_dir_, linkem_->address());
    ASSERT_NE(gateway_, nullptr);
    HttpClient client(gateway_->address());
    ASSERT_EQ(RegisterDigits(client), 201);
    request_ = ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
    HttpResult sync = client.Post("/v1/functions/digits/invoke", request_, "application/json");
    ASSERT_EQ(sync.status, 200) << sync.body;
    expected_outputs_ = json::parse(sync.body)["outputs"];
  }

  std::unique_ptr<Process> executor_, linkem_, gateway_;
  std::string data_dir_, request_;
  json expected_outputs_;
};

TEST_F(EventsTest, AsyncInvocationAnswersQueuedThenResultByIdWithLocation) {
  HttpClient client(gateway_->address());
  HttpResult r = PostAsync(client, "/v1/functions/digits/invoke", request_, "one");
  ASSERT_EQ(r.status, 202) << r.body;
  json accepted = json::parse(r.body);
  EXPECT_EQ(accepted["status"], "queued");
  const std::string id = accepted["id"];
  EXPECT_EQ(r.Header("location"), "/v1/invocations/" + id);
  HttpResult done = WaitFinished(client, id);
  ASSERT_EQ(done.status, 200) << done.body;
  json got = json::parse(done.body);
  EXPECT_EQ(got["status"], "succeeded");
  EXPECT_EQ(got["function"], "digits");
  EXPECT_EQ(got["attempts"], 1);
  EXPECT_EQ(got["result"]["outputs"], expected_outputs_);
  EXPECT_TRUE(got["error"].is_null());
  // The KServe route too; an unknown id is 404; bad input is refused before
  // it is accepted.
  r = PostAsync(client, "/v2/models/digits/infer", request_, "two");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(client.Get("/v1/invocations/ev-nope").status, 404);
  r = PostAsync(client, "/v1/functions/digits/invoke", R"({"inputs":[]})", "bad");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(client.Get("/v1/invocations?status=bogus").status, 400);
}

TEST_F(EventsTest, EveryAcceptedEventFinishesOnceAcrossAGatewaySigkill) {
  constexpr int kClients = 4;
  std::mutex mu;
  std::map<std::string, std::string> accepted;  // Idempotency-Key → id
  std::set<std::string> attempted;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  const std::string address = gateway_->address();
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client(address);
      for (int i = 0; !stop.load(); ++i) {
        const std::string key = absl::StrCat("c", c, "-", i);
        {
          std::lock_guard<std::mutex> lock(mu);
          attempted.insert(key);
        }
        HttpResult r = PostAsync(client, "/v1/functions/digits/invoke", request_, key);
        if (r.status == 0) break;  // the gateway is gone
        ASSERT_EQ(r.status, 202) << r.body;
        std::lock_guard<std::mutex> lock(mu);
        accepted[key] = json::parse(r.body)["id"];
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  gateway_->Signal(SIGKILL);
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_GT(accepted.size(), 10u);

  gateway_ = StartGateway(data_dir_, linkem_->address());
  ASSERT_NE(gateway_, nullptr);
  HttpClient client(gateway_->address());
  // Every key again: an accepted one gets its id back; one whose answer the
  // crash swallowed is either found (it was durable) or accepted now.
  std::map<std::string, std::string> ids = accepted;
  for (const std::string& key : attempted) {
    HttpResult r = PostAsync(client, "/v1/functions/digits/invoke", request_, key);
    ASSERT_EQ(r.status, 202) << r.body;
    const std::string id = json::parse(r.body)["id"];
    if (accepted.contains(key)) {
      EXPECT_EQ(id, accepted[key]) << "key " << key << " got a second id after the restart";
      EXPECT_EQ(r.Header("stoa-duplicate"), "true");
    }
    ids[key] = id;
  }
  std::set<std::string> distinct;
  for (const auto& [key, id] : ids) {
    EXPECT_TRUE(distinct.insert(id).second) << "two keys share " << id;
    HttpResult done = WaitFinished(client, id);
    ASSERT_EQ(done.status, 200) << key << ": " << done.body;
    json got = json::parse(done.body);
    EXPECT_EQ(got["status"], "succeeded") << done.body;
    EXPECT_EQ(got["result"]["outputs"], expected_outputs_) << key;
  }
  // Nothing failed or expired.
  HttpResult failed = client.Get("/v1/invocations?status=failed");
  ASSERT_EQ(failed.status, 200);
  EXPECT_EQ(json::parse(failed.body)["invocations"].size(), 0u) << failed.body;
  HttpResult metrics = client.Get("/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("stoa_queue_depth"));
}

// DELETE answers only once the cancelled state is on disk: an ordered
// cloud-only function, the cloud executor stopped (SIGSTOP) so a device's
// first event hangs running and its second waits queued behind it; the
// second is cancelled, the gateway SIGKILLed at once after the 200, the
// executor resumed and the gateway restarted: the first event runs, the
// cancelled one stays cancelled and never ran (attempts 0).
TEST_F(EventsTest, ACancelledEventNeverRunsAfterACrashRightAfterTheAnswer) {
  HttpClient client(gateway_->address());
  Multipart reg = MakeRegistration(
      R"({"name":"inorder","runtime":"onnx","tiers":["cloud"],"events":{"ordered":true}})",
      DigitsModel());
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  // Loaded on the cloud before it stops (a first run there).
  ASSERT_EQ(client.Post("/v1/functions/inorder/invoke", request_, "application/json").status, 200);
  ASSERT_EQ(kill(executor_->pid(), SIGSTOP), 0);
  client.SetHeader("X-Device-Id", "dev-1");
  HttpResult first = PostAsync(client, "/v1/functions/inorder/invoke", request_, "first");
  ASSERT_EQ(first.status, 202) << first.body;
  HttpResult second = PostAsync(client, "/v1/functions/inorder/invoke", request_, "second");
  ASSERT_EQ(second.status, 202) << second.body;
  const std::string first_id = json::parse(first.body)["id"];
  const std::string second_id = json::parse(second.body)["id"];
  HttpClient plain(gateway_->address());
  HttpResult cancelled = plain.Delete("/v1/invocations/" + second_id);
  gateway_->Signal(SIGKILL);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(json::parse(cancelled.body)["error"]["code"], "CANCELLED");
  ASSERT_EQ(kill(executor_->pid(), SIGCONT), 0);
  gateway_ = StartGateway(data_dir_, linkem_->address());
  ASSERT_NE(gateway_, nullptr);
  HttpClient after(gateway_->address());
  HttpResult done = WaitFinished(after, first_id);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body)["status"], "succeeded") << done.body;
  HttpResult still = after.Get("/v1/invocations/" + second_id);
  ASSERT_EQ(still.status, 200) << still.body;
  json doc = json::parse(still.body);
  EXPECT_EQ(doc["status"], "failed") << still.body;
  EXPECT_EQ(doc["error"]["code"], "CANCELLED") << still.body;
  EXPECT_EQ(doc["attempts"], 0) << "the cancelled event ran";
}

}  // namespace
}  // namespace stoa::testing
