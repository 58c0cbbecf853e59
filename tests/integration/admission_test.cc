// Issue 10, admission control ("Load" and "CPU and time"), against the real
// stoa-gateway (2 edge workers) and stoa-executor (2 workers): a burst of
// 200 concurrent calls of a 2-second Wasm busy loop is mostly refused at
// once (503, tier saturated, with Retry-After) instead of waiting to time
// out; what is admitted succeeds; /readyz says 503 while every tier is
// saturated and 200 after; /healthz stays 200; another function is still
// served; limits.max_concurrency is a 429. Time and memory bounds on each.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kBurst = 200;
constexpr int64_t kMaxGrowthKiB = 256 * 1024;  // VmHWM growth of either process
constexpr double kMaxRefusalSeconds = 5.0;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string DigitsBody() {
  json data = json::array();
  for (int i = 0; i < 64; ++i) data.push_back(0.0);
  return json{
      {"inputs", {{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}}}}
      .dump();
}

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("slow").empty()) GTEST_SKIP() << "wasm examples not built";
    Platform platform = StartPlatform("admission", {"--status-interval-ms", "100"});
    executor_ = std::move(platform.executor);
    gateway_ = std::move(platform.gateway);
    client_ = std::move(platform.client);
    ASSERT_NE(client_, nullptr);
    ASSERT_EQ(RegisterDigits(*client_), 201);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    EXPECT_TRUE(gateway_->Running());
    EXPECT_TRUE(executor_->Running());
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    HttpResult digits = client_->Post("/v1/functions/digits/invoke", DigitsBody());
    EXPECT_EQ(digits.status, 200) << digits.body;
  }

  void Register(const std::string& name, const std::string& limits) {
    Multipart reg =
        MakeRegistration(R"({"name":")" + name + R"(","runtime":"wasm","limits":)" + limits + "}",
                         WasmExample("slow"));
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // `n` concurrent calls of `name` sleeping `ms`, each on its own connection.
  std::vector<std::pair<HttpResult, double>> Concurrent(const std::string& target, int n, int ms) {
    std::vector<std::pair<HttpResult, double>> out(n);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        HttpClient client(gateway_->address());
        while (!go.load()) std::this_thread::yield();
        const auto start = Clock::now();
        out[i].first =
            client.Request("POST", target, std::to_string(ms), "application/octet-stream");
        out[i].second = Since(start);
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    return out;
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(AdmissionTest, BurstOfSlowCallsIsRefusedAtOnceNotTimedOut) {
  Register("slow", R"({"timeout_ms":4000})");
  // Both tiers learn the function's run time (2 s).
  for (const char* tier : {"edge", "cloud"}) {
    auto warm = Concurrent(std::string("/v1/functions/slow/invoke?tier=") + tier, 2, 2000);
    for (auto& [r, s] : warm) ASSERT_EQ(r.status, 200) << r.body;
  }
  const int64_t gateway_hwm = ProcStatusKiB(gateway_->pid(), "VmHWM");
  const int64_t executor_hwm = ProcStatusKiB(executor_->pid(), "VmHWM");

  std::atomic<bool> done{false};
  std::atomic<int> readyz_503{0}, healthz_bad{0}, digits_ok{0}, digits_bad{0};
  std::thread prober([&] {
    HttpClient probe(gateway_->address());
    while (!done.load()) {
      if (probe.Get("/readyz").status == 503) ++readyz_503;
      if (probe.Get("/healthz").status != 200) ++healthz_bad;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::thread other([&] {
    HttpClient c(gateway_->address());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResult r = c.Post("/v1/functions/digits/invoke", DigitsBody());
    (r.status == 200 ? digits_ok : digits_bad)++;
  });
  auto results = Concurrent("/v1/functions/slow/invoke", kBurst, 2000);
  other.join();
  done = true;
  prober.join();

  int ok = 0, refused = 0, timed_out = 0;
  std::vector<double> refusal_seconds;
  for (auto& [r, seconds] : results) {
    if (r.status == 200) {
      ++ok;
      EXPECT_EQ(r.body, "slept 2000 ms\n");
      continue;
    }
    if (r.status == 504) {
      // The wait is a prediction: on this shared 2-core machine 1 run in
      // ~20 saw one call of 200 admitted and time out (docs/limits.md).
      ++timed_out;
      continue;
    }
    // Everything else is an early refusal.
    ASSERT_TRUE(r.status == 503 || r.status == 429) << r.status << " " << r.body;
    ++refused;
    refusal_seconds.push_back(seconds);
    EXPECT_THAT(r.body, HasSubstr("is saturated"));
    EXPECT_THAT(r.body,
                ::testing::AnyOf(HasSubstr("(tier queue wait)"), HasSubstr("(tier queue limit)"),
                                 HasSubstr("(executor queue")));
    EXPECT_NO_THROW(json::parse(r.body)) << r.body;
    ASSERT_FALSE(r.Header("retry-after").empty()) << r.body;
    EXPECT_GE(std::stoi(r.Header("retry-after")), 1);
  }
  std::sort(refusal_seconds.begin(), refusal_seconds.end());
  EXPECT_GE(ok, 1);
  EXPECT_LE(timed_out, 2);
  EXPECT_GE(refused, kBurst / 2);
  ASSERT_FALSE(refusal_seconds.empty());
  EXPECT_LT(refusal_seconds[refusal_seconds.size() * 99 / 100], kMaxRefusalSeconds);
  EXPECT_GT(readyz_503.load(), 0) << "/readyz never said saturated";
  EXPECT_EQ(healthz_bad.load(), 0);
  EXPECT_EQ(digits_ok.load(), 1) << "another function was not served during the burst";
  RecordProperty("admitted", ok);
  RecordProperty("refused", refused);

  // Ready again once the burst is over.
  const auto start = Clock::now();
  int ready = 0;
  while (Since(start) < 10.0 && (ready = client_->Get("/readyz").status) != 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ready, 200);
  HttpResult after = client_->Post("/v1/functions/slow/invoke", "10", "application/octet-stream");
  EXPECT_EQ(after.status, 200) << after.body;
  HttpResult metrics = client_->Get("/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("stoa_admission_refusals_total{function=\"slow\""));
  EXPECT_LT(ProcStatusKiB(gateway_->pid(), "VmHWM") - gateway_hwm, kMaxGrowthKiB);
  EXPECT_LT(ProcStatusKiB(executor_->pid(), "VmHWM") - executor_hwm, kMaxGrowthKiB);
}

TEST_F(AdmissionTest, MaxConcurrencyIs429WithRetryAfter) {
  Register("capped", R"({"timeout_ms":10000,"max_concurrency":2})");
  std::vector<std::pair<HttpResult, double>> running;
  std::thread two([&] { running = Concurrent("/v1/functions/capped/invoke", 2, 1500); });
  // The two are admitted at once; a third while they run is refused.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t hwm = ProcStatusKiB(gateway_->pid(), "VmHWM");
  const auto start = Clock::now();
  HttpResult third = client_->Post("/v1/functions/capped/invoke", "10", "application/octet-stream");
  EXPECT_LT(Since(start), kMaxRefusalSeconds);
  two.join();
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_THAT(third.body, HasSubstr("function 'capped' is at its concurrency limit of 2 "
                                    "(limits.max_concurrency)"));
  EXPECT_GE(std::stoi(third.Header("retry-after").empty() ? "0" : third.Header("retry-after")), 1);
  for (auto& [r, s] : running) EXPECT_EQ(r.status, 200) << r.body;
  // The slots came back.
  EXPECT_EQ(client_->Post("/v1/functions/capped/invoke", "10", "application/octet-stream").status,
            200);
  HttpResult fn = client_->Get("/v1/functions/capped");
  EXPECT_EQ(json::parse(fn.body)["limits"]["max_concurrency"], 2);
  EXPECT_LT(ProcStatusKiB(gateway_->pid(), "VmHWM") - hwm, kMaxGrowthKiB);
  // A bad value is refused at registration.
  Multipart bad = MakeRegistration(
      R"({"name":"bad","runtime":"wasm","limits":{"max_concurrency":-1}})", WasmExample("slow"));
  HttpResult r = client_->Post("/v1/functions", bad.body, bad.content_type);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("limits.max_concurrency"));
}

// The executor's own queue limit over gRPC: a gateway that admits freely
// in front of a 1-thread executor that queues 1; the executor's refusal is
// a 503 naming its limit, with Retry-After.
TEST(ExecutorAdmissionTest, ExecutorQueueLimitIs503ThroughTheGateway) {
  if (WasmExample("slow").empty()) GTEST_SKIP() << "wasm examples not built";
  auto executor = Process::Start(BinaryPath("stoa-executor"),
                                 {"--listen", "127.0.0.1:0", "--threads", "1", "--max-queue", "1"});
  ASSERT_NE(executor, nullptr);
  auto gateway =
      Process::Start(BinaryPath("stoa-gateway"),
                     {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("admission"), "--cloud",
                      executor->address(), "--edge", "none", "--max-queue-per-tier", "1000"});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  Multipart reg = MakeRegistration(
      R"({"name":"slow","runtime":"wasm","tiers":["cloud"],"limits":{"timeout_ms":10000}})",
      WasmExample("slow"));
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  ASSERT_EQ(client.Post("/v1/functions/slow/invoke", "10", "application/octet-stream").status, 200);
  const int64_t hwm = ProcStatusKiB(executor->pid(), "VmHWM");

  std::vector<std::pair<HttpResult, double>> out(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c(gateway->address());
      // Staggered so the first runs and the second queues before the others.
      std::this_thread::sleep_for(std::chrono::milliseconds(300 * i));
      const auto start = Clock::now();
      out[i].first =
          c.Request("POST", "/v1/functions/slow/invoke", "1500", "application/octet-stream");
      out[i].second = Since(start);
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, refused = 0;
  for (auto& [r, seconds] : out) {
    if (r.status == 200) {
      ++ok;
      continue;
    }
    ++refused;
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_THAT(r.body, HasSubstr("the executor is saturated"));
    EXPECT_THAT(r.body, HasSubstr("(executor queue limit)"));
    EXPECT_EQ(r.Header("retry-after"), "1");
    EXPECT_LT(seconds, kMaxRefusalSeconds);
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(refused, 2);
  EXPECT_TRUE(executor->Running());
  EXPECT_EQ(client.Get("/healthz").status, 200);
  EXPECT_EQ(client.Post("/v1/functions/slow/invoke", "10", "application/octet-stream").status, 200);
  EXPECT_LT(ProcStatusKiB(executor->pid(), "VmHWM") - hwm, kMaxGrowthKiB);
}

}  // namespace
}  // namespace stoa::testing
