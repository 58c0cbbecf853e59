// Issue 10, cancellation end to end and cancelling at shutdown, against the
// real stoa-gateway and stoa-executor: a client that disconnects cancels
// its invocation (HTTP close → the request's cancel signal → gRPC
// cancellation → the executor stops the running Wasm instance), so
// spinning calls whose clients went away do not hold the workers of either
// tier; and SIGTERM with such a call running cancels it once the grace
// period is over, answers it, and exits instead of abandoning it. Each case
// asserts the documented outcome, that both processes keep serving, a time
// bound and a memory bound (/proc/<pid>/status).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kGraceMs = 1500;
// The binaries' own limit past the grace period: before cancellation, a
// call still running was abandoned when it passed, not answered.
constexpr int kMarginMs = 1000;
constexpr int64_t kMaxAnswerMs = 5000;
constexpr int64_t kMaxGrowthKiB = 64 * 1024;  // peak RSS growth of a case
constexpr int64_t kMaxRssKiB = 512 * 1024;

// (module (memory (export "memory") 1) (func (export "_start") (loop br 0)))
std::string SpinModule() {
  const unsigned char bytes[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01,
                                 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00,
                                 0x01, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79,
                                 0x02, 0x00, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x00,
                                 0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

// y = x expanded to 512×512, then 2000 MatMuls by a 512×512 matrix: each
// node takes tens of milliseconds, the model minutes, far past its timeout.
std::string LongChainModel() {
  namespace b = ::stoa::functions::testing;
  constexpr int64_t kSide = 512;
  constexpr int kNodes = 2000;
  std::vector<::onnx::NodeProto> nodes = {b::MakeNode("Expand", "expand", {"x", "shape"}, {"a0"})};
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(b::MakeNode("MatMul", absl::StrCat("mm", i), {absl::StrCat("a", i), "w"},
                                {i + 1 == kNodes ? std::string("y") : absl::StrCat("a", i + 1)}));
  }
  std::vector<float> w(kSide * kSide, 1.0f / kSide);
  return b::MakeModel(nodes, {b::ValueInfo("x", {1, 1})}, {b::ValueInfo("y", {kSide, kSide})},
                      {b::Int64Init("shape", {kSide, kSide}), b::FloatInit("w", {kSide, kSide}, w)})
      .SerializeAsString();
}

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// Sends `target` as a POST, waits `linger`, closes without reading.
void DisconnectingCall(const std::string& address, const std::string& target, milliseconds linger,
                       const std::string& body = "x",
                       const std::string& content_type = "text/plain") {
  const size_t colon = address.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request =
      absl::StrCat("POST ", target, " HTTP/1.1\r\nHost: t\r\nContent-Type: ", content_type,
                   "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::this_thread::sleep_for(linger);
  ::close(fd);
}

// The value of the first exposition line holding every one of `parts`.
double MetricValue(const std::string& exposition, const std::vector<std::string>& parts) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    bool all = !line.empty() && line[0] != '#';
    for (const std::string& part : parts) all = all && absl::StrContains(line, part);
    if (all) return std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return 0.0;
}

bool ExitedWith(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

class CancellationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string grace = std::to_string(kGraceMs);
    metrics_address_ = absl::StrCat("127.0.0.1:", FreePort());
    executor_ = Process::Start(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--threads", "2", "--metrics-listen",
                                metrics_address_, "--shutdown-grace-ms", grace});
    ASSERT_NE(executor_, nullptr);
    gateway_ =
        Process::Start(BinaryPath("stoa-gateway"),
                       {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("cancel"), "--cloud",
                        executor_->address(), "--edge-threads", "2", "--shutdown-grace-ms", grace});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    sample_ = ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
    Multipart digits =
        MakeRegistration(R"({"name":"digits","runtime":"onnx"})",
                         ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")));
    ASSERT_EQ(client_->Post("/v1/functions", digits.body, digits.content_type).status, 201);
    // Registration compiles the module (seconds on a loaded machine).
    Multipart spin = MakeRegistration(
        R"({"name":"spin","runtime":"wasm","limits":{"timeout_ms":30000}})", SpinModule());
    HttpResult r = client_->Request("POST", "/v1/functions", spin.body, spin.content_type, 180000);
    ASSERT_EQ(r.status, 201) << r.body;
    for (const std::string tier : {"edge", "cloud"}) {
      ASSERT_EQ(client_->Post("/v1/functions/digits/invoke?tier=" + tier, sample_).status, 200);
      // The first call of spin on a tier loads it there (the cloud executor
      // compiles it again); its client goes away, so it is cancelled.
      DisconnectingCall(gateway_->address(), "/v1/functions/spin/invoke?tier=" + tier,
                        milliseconds(200));
      ASSERT_TRUE(WaitForCancelled(tier, 1, 180000)) << tier;
    }
  }

  void TearDown() override {
    if (client_ == nullptr || !gateway_->Running()) return;
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    for (const Process* p : {gateway_.get(), executor_.get()}) {
      if (p->pid() <= 0) continue;
      const int64_t rss = ProcStatusKiB(p->pid(), "VmRSS");
      if (rss > 0) {
        EXPECT_LT(rss, kMaxRssKiB) << "pid " << p->pid();
      }
    }
  }

  // Waits until the gateway counts `n` cancelled calls of `function` on `tier`.
  bool WaitForCancelled(const std::string& tier, double n, int64_t timeout_ms,
                        const std::string& function = "spin") {
    const Clock::time_point start = Clock::now();
    while (MsSince(start) < timeout_ms) {
      HttpResult m = client_->Get("/metrics");
      if (MetricValue(m.body, {"stoa_invocations_total{", "function=\"" + function + "\"",
                               "tier=\"" + tier + "\"", "outcome=\"cancelled\""}) >= n) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  // Waits until the executor counts `n` cancelled calls of `function` (it
  // counts when the runtime has stopped the call; the gateway's gRPC
  // cancellation answers the gateway at once).
  double WaitForExecutorCancelled(const std::string& function, double n) {
    HttpClient executor_metrics(metrics_address_);
    const Clock::time_point start = Clock::now();
    double value = 0;
    while (MsSince(start) < kMaxAnswerMs) {
      HttpResult m = executor_metrics.Get("/metrics");
      value = MetricValue(m.body, {"stoa_executor_invocations_total{",
                                   "function=\"" + function + "\"", "outcome=\"cancelled\""});
      if (value >= n) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return value;
  }

  // digits on `tier`: 200 within the answer bound.
  void ExpectDigitsServed(const std::string& tier) {
    const Clock::time_point start = Clock::now();
    HttpResult r = client_->Request("POST", "/v1/functions/digits/invoke?tier=" + tier, sample_,
                                    "application/json", 30000);
    const int64_t ms = MsSince(start);
    EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), tier);
    EXPECT_LT(ms, kMaxAnswerMs) << tier;
    std::printf("digits on %s after the cancelled calls: %d in %ld ms\n", tier.c_str(), r.status,
                static_cast<long>(ms));
  }

  std::string metrics_address_;
  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::string sample_;
};

// Four spinning calls whose clients leave after 200 ms held both workers of
// both tiers until their 30 s timeout: every other function got 504.
TEST_F(CancellationTest, DisconnectedClientsFreeTheWorkersOfBothTiers) {
  const int64_t gateway_hwm = ProcStatusKiB(gateway_->pid(), "VmHWM");
  const int64_t executor_hwm = ProcStatusKiB(executor_->pid(), "VmHWM");
  std::vector<std::thread> clients;
  for (const std::string tier : {"edge", "edge", "cloud", "cloud"}) {
    clients.emplace_back([this, tier] {
      DisconnectingCall(gateway_->address(), "/v1/functions/spin/invoke?tier=" + tier,
                        milliseconds(200));
    });
  }
  for (std::thread& t : clients) t.join();
  const Clock::time_point closed = Clock::now();
  // Each tier's two runs end cancelled: the workers are free again.
  EXPECT_TRUE(WaitForCancelled("edge", 3, kMaxAnswerMs));
  EXPECT_TRUE(WaitForCancelled("cloud", 3, kMaxAnswerMs));
  std::printf("4 disconnected spin calls cancelled within %ld ms of the clients leaving\n",
              static_cast<long>(MsSince(closed)));
  ExpectDigitsServed("edge");
  ExpectDigitsServed("cloud");
  // The executor stopped its running instances: counted as cancelled.
  EXPECT_GE(WaitForExecutorCancelled("spin", 3), 3.0);
  EXPECT_LT(ProcStatusKiB(gateway_->pid(), "VmHWM") - gateway_hwm, kMaxGrowthKiB);
  EXPECT_LT(ProcStatusKiB(executor_->pid(), "VmHWM") - executor_hwm, kMaxGrowthKiB);
  // Cancellations teach the scheduler nothing and are not hedge losses.
  HttpResult gm = client_->Get("/metrics");
  EXPECT_EQ(MetricValue(gm.body, {"stoa_hedge_cancelled_total{", "function=\"spin\""}), 0.0);
}

// The same for an ONNX model of many slow nodes: the run stops between
// nodes.
TEST_F(CancellationTest, DisconnectedClientStopsAnOnnxModelBetweenNodes) {
  Multipart reg = MakeRegistration(
      R"({"name":"chain","runtime":"onnx","limits":{"timeout_ms":30000}})", LongChainModel());
  HttpResult registered =
      client_->Request("POST", "/v1/functions", reg.body, reg.content_type, 60000);
  ASSERT_EQ(registered.status, 201) << registered.body;
  const std::string target = "/v1/functions/chain/invoke?tier=";
  const std::string body =
      R"({"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1.0]}]})";
  const int64_t gateway_hwm = ProcStatusKiB(gateway_->pid(), "VmHWM");
  const int64_t executor_hwm = ProcStatusKiB(executor_->pid(), "VmHWM");
  for (const std::string tier : {"edge", "cloud"}) {
    DisconnectingCall(gateway_->address(), target + tier, milliseconds(500), body,
                      "application/json");
    const Clock::time_point closed = Clock::now();
    // The cold start (LoadFunction) comes first on each tier: generous.
    EXPECT_TRUE(WaitForCancelled(tier, 1, 60000, "chain")) << tier;
    std::printf("chain on %s: cancelled %ld ms after the client left\n", tier.c_str(),
                static_cast<long>(MsSince(closed)));
    ExpectDigitsServed(tier);
  }
  EXPECT_GE(WaitForExecutorCancelled("chain", 1), 1.0);
  EXPECT_LT(ProcStatusKiB(gateway_->pid(), "VmHWM") - gateway_hwm, 3 * kMaxGrowthKiB);
  EXPECT_LT(ProcStatusKiB(executor_->pid(), "VmHWM") - executor_hwm, 3 * kMaxGrowthKiB);
}

// The client that stays gets the answer of its cancelled call: 499.
class Call {
 public:
  Call(const std::string& address, const std::string& target)
      : thread_([this, address, target] {
          HttpClient client(address);
          result_ = client.Request("POST", target, "x", "text/plain", 60000);
        }) {}
  HttpResult Wait() {
    thread_.join();
    return result_;
  }

 private:
  HttpResult result_;
  std::thread thread_;
};

TEST_F(CancellationTest, GatewaySigtermCancelsTheRunningEdgeCallAnswersItAndExits) {
  Call call(gateway_->address(), "/v1/functions/spin/invoke?tier=edge");
  std::this_thread::sleep_for(milliseconds(500));
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(gateway_->pid(), SIGTERM), 0);
  HttpResult r = call.Wait();
  const int64_t answered_ms = MsSince(start);
  std::optional<int> status = gateway_->WaitExit(kGraceMs + 2000);
  const int64_t ms = MsSince(start);
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_GE(answered_ms, kGraceMs - 50) << "the call had its grace period";
  EXPECT_LT(ms, kGraceMs + kMarginMs) << "exited after cancelling, not by abandoning the call";
  EXPECT_EQ(r.status, 499) << r.body;
  EXPECT_THAT(r.body, HasSubstr("CANCELLED"));
  EXPECT_THAT(r.body, HasSubstr("was cancelled by its caller"));
  std::printf(
      "gateway: SIGTERM with a spinning edge call: answered %d after %ld ms, exit 0 after "
      "%ld ms (grace %d ms)\n",
      r.status, static_cast<long>(answered_ms), static_cast<long>(ms), kGraceMs);
}

TEST_F(CancellationTest, ExecutorSigtermCancelsTheRunningCallAndExits) {
  const int64_t gateway_hwm = ProcStatusKiB(gateway_->pid(), "VmHWM");
  Call call(gateway_->address(), "/v1/functions/spin/invoke?tier=cloud");
  std::this_thread::sleep_for(milliseconds(500));
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(::kill(executor_->pid(), SIGTERM), 0);
  std::optional<int> status = executor_->WaitExit(kGraceMs + 2000);
  const int64_t ms = MsSince(start);
  HttpResult r = call.Wait();
  EXPECT_TRUE(ExitedWith(status, 0));
  EXPECT_GE(ms, kGraceMs - 50);
  EXPECT_LT(ms, kGraceMs + kMarginMs) << "exited after cancelling, not by abandoning the call";
  EXPECT_NE(r.status, 200) << r.body;
  EXPECT_NE(r.status, 0) << "the call is answered";
  // The gateway is unharmed: it answers, and the edge still runs functions.
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  ExpectDigitsServed("edge");
  EXPECT_LT(ProcStatusKiB(gateway_->pid(), "VmHWM") - gateway_hwm, kMaxGrowthKiB);
  std::printf(
      "executor: SIGTERM with a spinning call: exit 0 after %ld ms (grace %d ms); the "
      "gateway answered %d: %s\n",
      static_cast<long>(ms), kGraceMs, r.status, r.body.c_str());
}

}  // namespace
}  // namespace stoa::testing
