// Issue 13: asynchronous HTTP invocations through the durable queue, with
// real processes: stoa-gateway (in-process edge) + a stoa-executor as the
// cloud tier behind stoa-linkem. The gateway is SIGKILLed while clients
// submit; after the restart every accepted (202) event finishes exactly
// once with the synchronous call's result, fetched by id, and the same
// Idempotency-Key gives the same id across the restart.
#include <signal.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/http_receiver.h"

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

// Polls `ok` every 20 ms for up to `timeout_ms`; its last value.
bool WaitUntil(const std::function<bool()>& ok, int timeout_ms = 15000) {
  for (int waited = 0; waited < timeout_ms && !ok(); waited += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
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

// The scheduler's queue term includes queued async work (issue 13 item 5):
// a cloud-only function, the cloud executor stopped (SIGSTOP) so a burst of
// async events piles up in the durable queue; GET /v1/scheduler/state shows
// it as the cloud's queued_async, and so does stoa_queue_queued_async; once
// the executor resumes and the events run, both drop back to 0.
TEST_F(EventsTest, ABurstOfQueuedAsyncEventsIsInTheCloudsQueueTerm) {
  HttpClient client(gateway_->address());
  Multipart reg =
      MakeRegistration(R"({"name":"cloudonly","runtime":"onnx","tiers":["cloud"]})", DigitsModel());
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  ASSERT_EQ(client.Post("/v1/functions/cloudonly/invoke", request_, "application/json").status,
            200);
  auto queued_async = [&](const std::string& target) {
    HttpResult state = client.Get("/v1/scheduler/state");
    EXPECT_EQ(state.status, 200) << state.body;
    return json::parse(state.body)["tiers"][target].value("queued_async", -1.0);
  };
  auto gauge = [&]() {
    const std::string metrics = client.Get("/metrics").body;
    const std::string series = R"(stoa_queue_queued_async{target="cloud",tier="cloud"} )";
    const size_t at = metrics.find(series);
    return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + series.size()));
  };
  EXPECT_EQ(queued_async("cloud"), 0.0);
  EXPECT_EQ(queued_async("edge"), 0.0);

  ASSERT_EQ(kill(executor_->pid(), SIGSTOP), 0);
  constexpr int kBurst = 40;
  std::vector<std::string> ids;
  HttpClient async(gateway_->address());
  for (int i = 0; i < kBurst; ++i) {
    HttpResult r =
        PostAsync(async, "/v1/functions/cloudonly/invoke", request_, absl::StrCat("burst-", i));
    ASSERT_EQ(r.status, 202) << r.body;
    ids.push_back(json::parse(r.body)["id"]);
  }
  // At most --events-max-running (16) of them were dispatched (hanging on
  // the stopped executor); the others wait, all for the cloud.
  EXPECT_TRUE(WaitUntil([&] { return queued_async("cloud") >= kBurst - 16; }, 5000))
      << queued_async("cloud");
  EXPECT_LE(queued_async("cloud"), kBurst);
  EXPECT_EQ(queued_async("edge"), 0.0);  // the function may not run there
  EXPECT_TRUE(WaitUntil([&] { return gauge() >= kBurst - 16; }, 5000)) << gauge();

  ASSERT_EQ(kill(executor_->pid(), SIGCONT), 0);
  for (const std::string& id : ids) {
    HttpResult done = WaitFinished(client, id);
    ASSERT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(json::parse(done.body)["status"], "succeeded") << done.body;
  }
  EXPECT_EQ(queued_async("cloud"), 0.0);
  EXPECT_TRUE(WaitUntil([&] { return gauge() == 0.0; }, 5000)) << gauge();
}

// The HTTP-callback half of the outbox. A result is durable but its
// Stoa-Callback has not had a 2xx yet (the receiver answers 503, holding
// the window open) when the gateway is SIGKILLed: after the restart it is
// POSTed (at least once). Once a 2xx was recorded (the delivered marker is
// durable), a second SIGKILL and restart do not POST it again.
TEST_F(EventsTest, CallbackResultsSurviveASigkillAndDeliveredOnesAreNotPostedAgain) {
  HttpReceiver receiver;
  receiver.Refuse(true);
  HttpClient client(gateway_->address());
  client.SetHeader("Stoa-Callback", receiver.Url("/results"));
  HttpResult r = PostAsync(client, "/v1/functions/digits/invoke", request_, "cb-1");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["id"];
  HttpClient plain(gateway_->address());
  ASSERT_EQ(WaitFinished(plain, id).status, 200);  // its final state is durable
  ASSERT_TRUE(WaitUntil([&] { return receiver.Count(id, 503) >= 1; }));
  gateway_->Signal(SIGKILL);
  EXPECT_EQ(receiver.Count(id, 200), 0);

  receiver.Refuse(false);
  gateway_ = StartGateway(data_dir_, linkem_->address());
  ASSERT_NE(gateway_, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return receiver.Count(id, 200) >= 1; }))
      << "the undelivered callback was not POSTed after the restart";
  for (const HttpReceiver::Request& req : receiver.requests()) {
    if (req.invocation_id != id) continue;
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/results");
    json doc = json::parse(req.body);
    EXPECT_EQ(doc["id"], id);
    EXPECT_EQ(doc["status"], "succeeded") << req.body;
    EXPECT_EQ(doc["result"]["outputs"], expected_outputs_);
  }
  // The 2xx's marker is appended by the sender right after the answer; a
  // later event's 202 (given once the log is fsynced past its record)
  // shows it is on disk.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpClient after(gateway_->address());
  ASSERT_EQ(PostAsync(after, "/v1/functions/digits/invoke", request_, "barrier").status, 202);
  const int posted = receiver.Count(id);
  gateway_->Signal(SIGKILL);

  gateway_ = StartGateway(data_dir_, linkem_->address());
  ASSERT_NE(gateway_, nullptr);
  // One sender thread delivers in order and the outbox queues its
  // redeliveries at start, before any event runs: once a new event's
  // callback arrived, a redelivery of `id` would have arrived first.
  HttpClient last(gateway_->address());
  last.SetHeader("Stoa-Callback", receiver.Url("/results"));
  HttpResult next = PostAsync(last, "/v1/functions/digits/invoke", request_, "cb-2");
  ASSERT_EQ(next.status, 202) << next.body;
  const std::string next_id = json::parse(next.body)["id"];
  ASSERT_TRUE(WaitUntil([&] { return receiver.Count(next_id, 200) == 1; }));
  EXPECT_EQ(receiver.Count(id), posted) << "a delivered callback was POSTed again";
}

// Async invocations of pipelines take what the first stage takes and
// answer what the last one answers, as the synchronous route does: bytes in
// and JSON bytes out (the example, Wasm → ONNX → Wasm), KServe tensors in
// (ONNX first) and bytes out, and bytes in with KServe tensors out (ONNX
// last). Each async result is the synchronous call's answer.
TEST(EventsPipelineTest, AsyncPipelinesTakeAndAnswerWhatTheirStagesDo) {
  if (WasmExample("digits_pixels").empty()) GTEST_SKIP() << "wasm examples not built";
  Platform platform = StartPlatform("events-pipeline");
  ASSERT_NE(platform.client, nullptr);
  HttpClient& client = *platform.client;
  auto register_wasm = [&](const std::string& spec, const std::string& example) {
    Multipart reg = MakeRegistration(spec, WasmExample(example));
    return client.Post("/v1/functions", reg.body, reg.content_type).status;
  };
  ASSERT_EQ(register_wasm(R"({"name":"digits-pixels","runtime":"wasm"})", "digits_pixels"), 201);
  ASSERT_EQ(RegisterDigits(client, "digits"), 201);
  ASSERT_EQ(register_wasm(R"({"name":"digits-post","runtime":"wasm",)"
                          R"("content_type":"application/json"})",
                          "digits_post"),
            201);
  auto pipeline = [](const std::string& name, const std::vector<std::string>& stages) {
    json doc = {{"name", name}, {"runtime", "pipeline"}, {"stages", json::array()}};
    for (const std::string& stage : stages) doc["stages"].push_back({{"function", stage}});
    return doc.dump();
  };
  std::string image;
  for (int i = 0; i < 64; ++i) image.push_back(static_cast<char>((i * 37) % 256));
  json pixels = json::array();
  for (int i = 0; i < 64; ++i) pixels.push_back(i % 17);
  const std::string tensors =
      json{{"inputs",
            {{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", pixels}}}}}
          .dump();
  struct Case {
    std::string name;
    std::vector<std::string> stages;
    std::string body, content_type;
  };
  const std::vector<Case> cases = {
      {"ocr", {"digits-pixels", "digits", "digits-post"}, image, "application/octet-stream"},
      {"classify", {"digits", "digits-post"}, tensors, "application/json"},
      {"scores", {"digits-pixels", "digits"}, image, "application/octet-stream"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpResult r = client.Post("/v1/functions", pipeline(c.name, c.stages), "application/json");
    ASSERT_EQ(r.status, 201) << r.body;
    HttpResult sync = client.Post("/v1/functions/" + c.name + "/invoke", c.body, c.content_type);
    ASSERT_EQ(sync.status, 200) << sync.body;
    HttpClient async(platform.gateway->address());
    async.SetHeader("Prefer", "respond-async");
    HttpResult accepted = async.Post("/v1/functions/" + c.name + "/invoke", c.body, c.content_type);
    ASSERT_EQ(accepted.status, 202) << accepted.body;
    HttpResult done = WaitFinished(client, json::parse(accepted.body)["id"]);
    ASSERT_EQ(done.status, 200) << done.body;
    json got = json::parse(done.body);
    ASSERT_EQ(got["status"], "succeeded") << done.body;
    EXPECT_EQ(got["result"], json::parse(sync.body)) << done.body;
  }
  // A body that does not fit the first stage is refused before it is accepted.
  HttpClient async(platform.gateway->address());
  async.SetHeader("Prefer", "respond-async");
  HttpResult bad = async.Post("/v1/functions/classify/invoke", "not tensors", "application/json");
  EXPECT_EQ(bad.status, 400) << bad.body;
}

}  // namespace
}  // namespace stoa::testing
