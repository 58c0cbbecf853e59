// The feedback-control scheduler with real processes: the cloud executor is
// killed mid-run under the predictive policy, and traffic moves to the edge
// with no failed request.
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
  for (int i = 0; i < 64; ++i) data.push_back(i % 13);
  json body;
  body["inputs"] =
      json::array({{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

TEST(SchedulerIntegrationTest, CloudKilledMidRunTrafficMovesToTheEdgeWithoutFailures) {
  auto executor = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(executor, nullptr);
  auto gateway = Process::Start(BinaryPath("stoa-gateway"),
                                {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("scheduler"),
                                 "--cloud", executor->address()});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  Multipart reg =
      MakeRegistration(R"({"name":"digits","runtime":"onnx","limits":{"timeout_ms":3000}})", model);
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  // Predictive with a generous exploration budget; one tier failure opens
  // the circuit for a minute.
  ASSERT_EQ(
      client
          .Put("/v1/functions/digits/policy", R"({"policy":"predictive","explore_budget":0.5,)"
                                              R"("circuit":{"failures":1,"open_ms":60000}})")
          .status,
      200);

  // Both tiers measured and warm: forced cloud calls, then the scheduler's own.
  for (int i = 0; i < 5; ++i) {
    HttpResult r = client.Post("/v1/functions/digits/invoke?tier=cloud", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
    EXPECT_EQ(r.Header("x-stoa-reason"), "forced");
  }
  for (int i = 0; i < 20; ++i) {
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  json state = json::parse(client.Get("/v1/scheduler/state").body);
  EXPECT_GE(state["functions"]["digits"]["cloud"]["observations"].get<int>(), 5);
  EXPECT_GE(state["functions"]["digits"]["edge"]["observations"].get<int>(), 1);
  EXPECT_EQ(state["tiers"]["cloud"]["circuit"], "closed");

  executor->Signal(SIGKILL);

  // Every request still succeeds on the edge; exploration cannot pick the
  // dead cloud once its circuit is open (stale-tier probes included).
  for (int i = 0; i < 30; ++i) {
    if (i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "edge") << "request " << i;
    EXPECT_THAT(r.Header("x-stoa-reason"),
                ::testing::AnyOf("predicted-best", "failover", "explore"));
  }
  // The dead cloud is found by a stale shadow probe (at most 1 s after its
  // last answer) or the status probes: requests keep succeeding on the edge
  // meanwhile.
  for (int i = 0; i < 40; ++i) {
    state = json::parse(client.Get("/v1/scheduler/state").body);
    if (state["tiers"]["cloud"]["circuit"] == "open") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), "edge");
  }
  EXPECT_EQ(state["tiers"]["cloud"]["circuit"], "open");
  EXPECT_EQ(state["functions"]["digits"]["policy_override"]["explore_budget"], 0.5);
  EXPECT_TRUE(state["functions"]["digits"]["edge"]["prediction"].is_object());
}

}  // namespace
}  // namespace stoa::testing
