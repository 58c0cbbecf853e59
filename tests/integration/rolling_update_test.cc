// Rolling updates (issue 15 item 5) with the real binaries: the executors'
// grpc.health.v1.Health service, and SIGTERM under a load of invocations.
// On SIGTERM readiness turns false at once (the executor's health answers
// NOT_SERVING; the gateway's /readyz answers 503 while --shutdown-delay-ms
// lasts, then its listener closes and the probe is refused), every request
// accepted before the signal completes with 200, and the process exits 0
// within the delay plus the grace period.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kGraceMs = 4000;
constexpr int kSlackMs = 1500;
// A request sent this long before the signal has surely been accepted
// (dispatch of a warm call takes well under a millisecond).
constexpr milliseconds kAccepted(250);

// Check(service) on `address`: the status, or nullopt when the call failed
// (with the gRPC code in *code).
std::optional<HealthCheckResponse::ServingStatus> Check(const std::string& address,
                                                        const std::string& service,
                                                        grpc::StatusCode* code = nullptr) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(1000));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (code != nullptr) *code = status.error_code();
  if (!status.ok()) return std::nullopt;
  return response.status();
}

// Polls `done` every 10 ms for up to `limit`; whether it became true.
template <typename F>
bool Eventually(milliseconds limit, F done) {
  const Clock::time_point end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return done();
}

bool ExitedWith(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

struct Outcome {
  Clock::time_point sent;
  int status;
};

// Client threads invoking `slow` (ms per call) on one tier in a loop until
// stopped; every outcome is kept with the time it was sent.
class Load {
 public:
  Load(const std::string& address, const std::string& tier, int threads, int ms) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, address, tier, ms] {
        HttpClient client(address);
        while (!stop_.load()) {
          Outcome outcome{Clock::now(), 0};
          outcome.status = client
                               .Request("POST", "/v1/functions/slow/invoke?tier=" + tier,
                                        std::to_string(ms), "text/plain", 30000)
                               .status;
          std::lock_guard<std::mutex> lock(mu_);
          outcomes_.push_back(outcome);
        }
      });
    }
  }
  std::vector<Outcome> Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
    return outcomes_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::vector<std::thread> threads_;
};

// Counts the outcomes sent at least kAccepted before `signal` and how many
// of them were not 200; prints the tally.
int FailuresAcceptedBefore(const std::vector<Outcome>& outcomes, Clock::time_point signal,
                           const char* what) {
  int before = 0, failed = 0, window = 0, window_ok = 0, after = 0, after_ok = 0;
  for (const Outcome& o : outcomes) {
    if (o.sent + kAccepted <= signal) {
      ++before;
      failed += o.status != 200;
    } else if (o.sent <= signal) {
      ++window;
      window_ok += o.status == 200;
    } else {
      ++after;
      after_ok += o.status == 200;
    }
  }
  std::printf(
      "%s: %d requests sent >= 250 ms before the signal, %d failed; %d sent in the last "
      "250 ms before it (%d answered 200); %d sent after it (%d answered 200)\n",
      what, before, failed, window, window_ok, after, after_ok);
  EXPECT_GT(before, 0);
  return failed;
}

// One call of `slow` (ms) on `tier`, on its own thread: it keeps the
// process draining long enough for the readiness checks after the signal.
class LongCall {
 public:
  LongCall(const std::string& address, const std::string& tier, int ms)
      : thread_([this, address, tier, ms] {
          HttpClient client(address);
          status_ = client
                        .Request("POST", "/v1/functions/slow/invoke?tier=" + tier,
                                 std::to_string(ms), "text/plain", 30000)
                        .status;
        }) {}
  int Wait() {
    thread_.join();
    return status_;
  }

 private:
  int status_ = 0;
  std::thread thread_;
};

class RollingUpdateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("slow").empty()) GTEST_SKIP() << "wasm examples not built";
    health_address_ = "127.0.0.1:" + std::to_string(FreePort());
    const std::string grace = std::to_string(kGraceMs);
    executor_ = Process::Start(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--threads", "4", "--health-listen",
                                health_address_, "--shutdown-grace-ms", grace});
    ASSERT_NE(executor_, nullptr);
    gateway_ =
        Process::Start(BinaryPath("stoa-gateway"),
                       {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("rolling"), "--cloud",
                        executor_->address(), "--edge-threads", "4", "--shutdown-grace-ms", grace});
    ASSERT_NE(gateway_, nullptr);
    HttpClient client(gateway_->address());
    Multipart reg = MakeRegistration(
        R"({"name":"slow","runtime":"wasm","limits":{"timeout_ms":60000}})", WasmExample("slow"));
    ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client.Post("/v1/functions/slow/invoke?tier=" + tier, "1", "text/plain");
      ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    }
  }

  std::string health_address_;
  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
};

TEST_F(RollingUpdateTest, ExecutorHealthServiceAnswersOnBothPorts) {
  for (const std::string& address : {executor_->address(), health_address_}) {
    EXPECT_EQ(Check(address, ""), HealthCheckResponse::SERVING) << address;
    EXPECT_EQ(Check(address, "stoa.v1.Executor"), HealthCheckResponse::SERVING) << address;
    grpc::StatusCode code = grpc::StatusCode::OK;
    EXPECT_EQ(Check(address, "no.such.Service", &code), std::nullopt) << address;
    EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND) << address;
  }
}

TEST_F(RollingUpdateTest, ExecutorSigtermUnderLoadTurnsNotServingAndLosesNoAcceptedCall) {
  Load load(gateway_->address(), "cloud", 4, 300);
  std::this_thread::sleep_for(milliseconds(1200));
  LongCall long_call(gateway_->address(), "cloud", 2500);
  std::this_thread::sleep_for(milliseconds(300));
  const Clock::time_point signal = Clock::now();
  ASSERT_EQ(::kill(executor_->pid(), SIGTERM), 0);
  // Readiness turns false as soon as the signal is handled, while the 2.5 s
  // call still runs: the process drains, not serving.
  const bool flipped = Eventually(milliseconds(1500), [&] {
    return Check(health_address_, "stoa.v1.Executor") == HealthCheckResponse::NOT_SERVING;
  });
  EXPECT_TRUE(flipped) << "the health port never said NOT_SERVING";
  EXPECT_TRUE(executor_->Running());
  EXPECT_EQ(Check(health_address_, ""), HealthCheckResponse::NOT_SERVING);
  EXPECT_NE(Check(executor_->address(), ""), HealthCheckResponse::SERVING);
  std::printf(
      "executor: NOT_SERVING %ld ms after SIGTERM\n",
      static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - signal).count()));
  std::optional<int> status = executor_->WaitExit(kGraceMs + kSlackMs);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_EQ(long_call.Wait(), 200);
  std::vector<Outcome> outcomes = load.Stop();
  EXPECT_EQ(FailuresAcceptedBefore(outcomes, signal, "executor SIGTERM"), 0);
}

TEST_F(RollingUpdateTest, GatewaySigtermUnderLoadFailsReadinessAndLosesNoAcceptedRequest) {
  Load load(gateway_->address(), "edge", 4, 300);
  std::this_thread::sleep_for(milliseconds(1200));
  LongCall long_call(gateway_->address(), "edge", 2500);
  std::this_thread::sleep_for(milliseconds(300));
  const Clock::time_point signal = Clock::now();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  // The kubelet probes on a new connection: refused (status 0) is a
  // failure. It fails as soon as the signal is handled, while the 2.5 s
  // request is still being answered.
  const bool flipped = Eventually(milliseconds(1500), [&] {
    HttpClient probe(gateway_->address());
    return probe.Request("GET", "/readyz", "", "", 500).status != 200;
  });
  EXPECT_TRUE(flipped) << "/readyz kept answering 200 after SIGTERM";
  EXPECT_TRUE(gateway_->Running());
  std::printf(
      "gateway: /readyz failing %ld ms after SIGTERM\n",
      static_cast<long>(std::chrono::duration_cast<milliseconds>(Clock::now() - signal).count()));
  std::optional<int> status = gateway_->WaitExit(kGraceMs + kSlackMs);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_EQ(long_call.Wait(), 200);
  std::vector<Outcome> outcomes = load.Stop();
  EXPECT_EQ(FailuresAcceptedBefore(outcomes, signal, "gateway SIGTERM"), 0);
}

// --shutdown-delay-ms (for a Kubernetes Service): after SIGTERM the gateway
// first keeps serving, new connections included, with /readyz answering
// 503 "shutting down", so endpoints stop routing to it before its listener
// closes; then it drains as above.
TEST_F(RollingUpdateTest, GatewayShutdownDelayServesWhileReadyzAnswers503) {
  auto gateway =
      Process::Start(BinaryPath("stoa-gateway"),
                     {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("rolling-delay"),
                      "--cloud", executor_->address(), "--shutdown-delay-ms", "2000",
                      "--shutdown-grace-ms", std::to_string(kGraceMs)});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  Multipart reg = MakeRegistration(R"({"name":"slow","runtime":"wasm"})", WasmExample("slow"));
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  ASSERT_EQ(client.Get("/readyz").status, 200);
  const Clock::time_point signal = Clock::now();
  ASSERT_EQ(::kill(gateway->pid(), SIGTERM), 0);
  HttpResult ready;
  const bool unready = Eventually(milliseconds(1000), [&] {
    HttpClient probe(gateway->address());
    ready = probe.Request("GET", "/readyz", "", "", 500);
    return ready.status == 503;
  });
  ASSERT_TRUE(unready) << "/readyz: " << ready.status << " " << ready.body;
  EXPECT_NE(ready.body.find("shutting down"), std::string::npos) << ready.body;
  // Still inside the delay: a new connection is served.
  HttpClient fresh(gateway->address());
  HttpResult invoked = fresh.Post("/v1/functions/slow/invoke?tier=edge", "1", "text/plain");
  EXPECT_EQ(invoked.status, 200) << invoked.body;
  EXPECT_LT(Clock::now() - signal, milliseconds(2000)) << "too slow to test inside the delay";
  EXPECT_TRUE(gateway->Running());
  std::optional<int> status = gateway->WaitExit(2000 + kGraceMs + kSlackMs);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_GE(Clock::now() - signal, milliseconds(2000)) << "the listener closed before the delay";
}

}  // namespace
}  // namespace stoa::testing
