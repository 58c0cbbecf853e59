// Shutdown of the real binaries on SIGTERM (docs/limits.md, issue 10):
// requests in flight finish within --shutdown-grace-ms, new connections are
// refused at once, a call that would run past the grace period does not keep
// the process alive past grace + 1 s, and a second signal exits at once.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kGraceMs = 1500;
constexpr int kMarginMs = 1000;  // the binaries' own margin past the grace period
constexpr int kSlackMs = 700;    // process exit and scheduling on a busy machine

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

bool ExitedWith(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

// A call of the `slow` function, answered on its own thread.
class Call {
 public:
  Call(const std::string& address, const std::string& tier, int ms)
      : thread_([this, address, tier, ms] {
          HttpClient client(address);
          result_ = client.Request("POST", "/v1/functions/slow/invoke?tier=" + tier,
                                   std::to_string(ms), "text/plain", 30000);
        }) {}
  HttpResult Wait() {
    thread_.join();
    return result_;
  }

 private:
  HttpResult result_;
  std::thread thread_;
};

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("slow").empty()) GTEST_SKIP() << "wasm examples not built";
    const std::string grace = std::to_string(kGraceMs);
    executor_ = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0", "--threads",
                                                             "2", "--shutdown-grace-ms", grace});
    ASSERT_NE(executor_, nullptr);
    gateway_ =
        Process::Start(BinaryPath("stoa-gateway"),
                       {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("shutdown"), "--cloud",
                        executor_->address(), "--edge-threads", "2", "--shutdown-grace-ms", grace});
    ASSERT_NE(gateway_, nullptr);
    HttpClient client(gateway_->address());
    Multipart reg = MakeRegistration(
        R"({"name":"slow","runtime":"wasm","limits":{"timeout_ms":60000}})", WasmExample("slow"));
    ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
    // Warm on both tiers, so that the timed calls below only run.
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client.Post("/v1/functions/slow/invoke?tier=" + tier, "1", "text/plain");
      ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    }
  }

  // Gives a call just started time to reach its executor (the calls are
  // warm, so 300 ms is far more than dispatch takes).
  void WaitUntilRunning() { std::this_thread::sleep_for(milliseconds(300)); }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
};

TEST_F(ShutdownTest, GatewayAnswersTheRequestInFlightRefusesNewOnesAndExits) {
  Call call(gateway_->address(), "edge", 1000);
  WaitUntilRunning();
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  std::this_thread::sleep_for(milliseconds(150));
  HttpClient late(gateway_->address());
  EXPECT_EQ(late.Request("GET", "/healthz", "", "", 1000).status, 0)
      << "a new connection after SIGTERM must be refused";
  HttpResult r = call.Wait();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("slept 1000 ms"));
  std::optional<int> status = gateway_->WaitExit(kGraceMs + kSlackMs);
  EXPECT_TRUE(ExitedWith(status, 0));
  const int64_t ms = MsSince(start);
  EXPECT_LT(ms, kGraceMs) << "the gateway should exit once the request is answered";
  std::printf("gateway: SIGTERM with a 1000 ms call 300 ms in: answered 200, exit 0 after %ld ms\n",
              static_cast<long>(ms));
}

TEST_F(ShutdownTest, GatewayExitsWithinGraceAndMarginWhenACallRunsPastIt) {
  Call call(gateway_->address(), "edge", 60000);
  WaitUntilRunning();
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  std::optional<int> status = gateway_->WaitExit(kGraceMs + kMarginMs + kSlackMs);
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_GE(ms, kGraceMs - 50);
  EXPECT_NE(call.Wait().status, 200);
  std::printf("gateway: SIGTERM with a 60 s edge call: exit 0 after %ld ms (grace %d ms)\n",
              static_cast<long>(ms), kGraceMs);
}

TEST_F(ShutdownTest, SecondSignalExitsAtOnce) {
  Call call(gateway_->address(), "edge", 60000);
  WaitUntilRunning();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(gateway_->Running());  // draining: the call is still running
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  std::optional<int> status = gateway_->WaitExit(1000);
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(ExitedWith(status, 128 + SIGTERM));
  EXPECT_LT(ms, 500);
  call.Wait();
  std::printf("gateway: second SIGTERM: exit %d after %ld ms\n", 128 + SIGTERM,
              static_cast<long>(ms));
}

TEST_F(ShutdownTest, ExecutorFinishesTheCallInFlightThenExits) {
  Call call(gateway_->address(), "cloud", 1000);
  WaitUntilRunning();
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(executor_->pid(), SIGTERM), 0);
  HttpResult r = call.Wait();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-stoa-tier"), "cloud");
  std::optional<int> status = executor_->WaitExit(kGraceMs + kSlackMs);
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_LT(ms, kGraceMs);
  std::printf(
      "executor: SIGTERM with a 1000 ms call 300 ms in: answered 200, exit 0 after %ld ms\n",
      static_cast<long>(ms));
}

TEST_F(ShutdownTest, ExecutorExitsWithinGraceAndMarginWhenACallRunsPastIt) {
  Call call(gateway_->address(), "cloud", 60000);
  WaitUntilRunning();
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(executor_->pid(), SIGTERM), 0);
  std::optional<int> status = executor_->WaitExit(kGraceMs + kMarginMs + kSlackMs);
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_GE(ms, kGraceMs - 50);
  HttpResult r = call.Wait();
  EXPECT_NE(r.status, 200);
  // The gateway is unharmed: it answers, and the edge still runs functions.
  HttpClient client(gateway_->address());
  EXPECT_EQ(client.Get("/healthz").status, 200);
  EXPECT_EQ(client.Post("/v1/functions/slow/invoke?tier=edge", "1", "text/plain").status, 200);
  std::printf(
      "executor: SIGTERM with a 60 s call: exit 0 after %ld ms (grace %d ms); the gateway "
      "answered %d\n",
      static_cast<long>(ms), kGraceMs, r.status);
}

}  // namespace
}  // namespace stoa::testing
