// Failure of real processes: the cloud executor killed mid-run, and the
// gateway killed with SIGKILL while users register functions.
#include <signal.h>

#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using json = nlohmann::json;

std::string OneImage() {
  json data = json::array();
  for (int i = 0; i < 64; ++i) data.push_back(i % 17);
  json body;
  body["inputs"] =
      json::array({{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

TEST(ResilienceTest, CloudPoolKeepsServingWhenOneExecutorDies) {
  auto first = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  auto second = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("pool"),
                                 "--cloud", first->address() + "," + second->address()});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  Multipart reg = MakeRegistration(
      R"({"name":"digits","runtime":"onnx","tiers":["cloud"],"limits":{"timeout_ms":3000}})",
      model);
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  for (int i = 0; i < 6; ++i) {
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
  }
  // The first listed executor dies: the second, which the pool loaded the
  // function on too, serves every request (no cold start, no error).
  first->Signal(SIGKILL);
  for (int i = 0; i < 10; ++i) {
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
  }
}

TEST(ResilienceTest, CloudKilledMidRunFailsOverOrReturns503WithinDeadline) {
  auto executor = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(executor, nullptr);
  auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("failover"),
                                 "--cloud", executor->address()});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  Multipart both =
      MakeRegistration(R"({"name":"digits","runtime":"onnx","limits":{"timeout_ms":3000}})", model);
  ASSERT_EQ(client.Post("/v1/functions", both.body, both.content_type).status, 201);
  Multipart cloud_only = MakeRegistration(
      R"({"name":"digits-cloud","runtime":"onnx","tiers":["cloud"],"limits":{"timeout_ms":3000}})",
      model);
  ASSERT_EQ(client.Post("/v1/functions", cloud_only.body, cloud_only.content_type).status, 201);
  ASSERT_EQ(client.Put("/v1/policy", R"({"policy":"cloud_only"})").status, 200);
  // Warm: both run on the cloud.
  for (const std::string fn : {"digits", "digits-cloud"}) {
    HttpResult r = client.Post("/v1/functions/" + fn + "/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
  }
  // The scheduler may use any allowed tier again.
  ASSERT_EQ(client.Put("/v1/policy", R"({"policy":"round_robin"})").status, 200);

  executor->Signal(SIGKILL);

  for (int i = 0; i < 6; ++i) {
    auto start = std::chrono::steady_clock::now();
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "edge");
    EXPECT_LT(ms, 3500) << "request " << i << " took too long";
  }
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    HttpResult r = client.Post("/v1/functions/digits-cloud/invoke", OneImage());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_LT(ms, 3500);
  }
  EXPECT_EQ(client.Get("/healthz").status, 200);
}

TEST(ResilienceTest, EveryAcknowledgedRegistrationSurvivesKill9) {
  std::string data_dir = MakeTempDir("crash");
  std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  std::vector<std::string> acknowledged;
  int next = 0;
  for (int round = 0; round < 3; ++round) {
    auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                  {"--listen", "127.0.0.1:0", "--data-dir", data_dir});
    ASSERT_NE(gateway, nullptr);
    // Everything acknowledged so far is there after the restart.
    HttpClient client(gateway->address());
    for (const auto& name : acknowledged) {
      HttpResult r = client.Get("/v1/functions/" + name);
      EXPECT_EQ(r.status, 200) << name << " lost after kill -9: " << r.body;
    }
    // A writer registers as fast as it can; we kill the gateway under it.
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread writer([&] {
      HttpClient c(gateway->address());
      while (!stop.load()) {
        std::string name = "fn-" + std::to_string(next++);
        Multipart m = MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx"})", model);
        HttpResult r = c.Post("/v1/functions", m.body, m.content_type);
        if (r.status == 201) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.push_back(name);
        } else if (r.status == 0) {
          break;  // the gateway is gone
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 200 * round));
    gateway->Signal(SIGKILL);
    stop = true;
    writer.join();
  }
  EXPECT_GT(acknowledged.size(), 3u);
  auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                {"--listen", "127.0.0.1:0", "--data-dir", data_dir});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  for (const auto& name : acknowledged) {
    EXPECT_EQ(client.Get("/v1/functions/" + name).status, 200) << name;
  }
  // And the survivors still run.
  ASSERT_FALSE(acknowledged.empty());
  HttpResult r = client.Post("/v1/functions/" + acknowledged.front() + "/invoke", OneImage());
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace stoa::testing
