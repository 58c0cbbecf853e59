// Placement over named targets with real processes (issue 14, item 2): the
// in-process edge plus two cloud targets — "cloud-cpu", a pool of two
// stoa-executor processes, and "cloud-b", one — named with
// `stoa-gateway --target`. Checks X-Stoa-Target / X-Stoa-Tier, ?target= and
// ?tier=, the `target` metric label, per-target scheduler state, and that
// the pool loads the function only on the member that runs it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/integration/tls_harness.h"

extern char** environ;

namespace stoa::testing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

std::string OneImage() {
  json data = json::array();
  for (int i = 0; i < 64; ++i) data.push_back(i % 13);
  json body;
  body["inputs"] =
      json::array({{{"name", "pixels"}, {"shape", {1, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

// Whether an executor's /metrics shows a load of `function`.
bool LoadedThere(const std::string& metrics_address, const std::string& function) {
  HttpClient client(metrics_address);
  std::istringstream lines(client.Get("/metrics").body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("stoa_executor_loads_total{", 0) == 0 &&
        line.find(absl::StrCat("function=\"", function, "\"")) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// stoa-linkem with its two stdout lines read (as in linkem_test.cc: the
// harness reads only one).
class Linkem {
 public:
  explicit Linkem(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("stoa-linkem"));
    args.insert(args.end(), {"--control", "127.0.0.1:0", "--log-level", "warn"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (pid_ > 0 && std::count(out.begin(), out.end(), '\n') < 2 &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, n);
    }
    close(fds[0]);
    size_t first = out.find('\n');
    if (first == std::string::npos || out.find('\n', first + 1) == std::string::npos) {
      ADD_FAILURE() << "stoa-linkem did not print two lines: '" << out << "'";
      return;
    }
    address_ = out.substr(out.rfind(" on ", first) + 4, first - out.rfind(" on ", first) - 4);
    std::string second = out.substr(first + 1, out.find('\n', first + 1) - first - 1);
    control_ = second.substr(second.rfind(' ') + 1);
  }
  ~Linkem() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  const std::string& address() const { return address_; }
  const std::string& control() const { return control_; }

 private:
  pid_t pid_ = -1;
  std::string address_, control_;
};

class TargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      metrics_[i] = absl::StrCat("127.0.0.1:", FreePort());
      executors_[i] = Process::Start(BinaryPath("stoa-executor"),
                                     {"--listen", "127.0.0.1:0", "--metrics-listen", metrics_[i]});
      ASSERT_NE(executors_[i], nullptr);
    }
    gateway_ =
        Process::Start(BinaryPath("stoa-gateway"),
                       {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("targets"), "--target",
                        absl::StrCat("cloud-cpu=cloud:cpu:", executors_[0]->address(), ",",
                                     executors_[1]->address()),
                        "--target", absl::StrCat("cloud-b=cloud:cpu:", executors_[2]->address())});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
    Multipart reg = MakeRegistration(
        R"({"name":"digits","runtime":"onnx","limits":{"timeout_ms":5000}})", model);
    ASSERT_EQ(client_->Post("/v1/functions", reg.body, reg.content_type).status, 201);
  }

  std::array<std::string, 3> metrics_;
  std::array<std::unique_ptr<Process>, 3> executors_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(TargetsTest, ForcedTargetsHeadersMetricsStateAndOnDemandLoads) {
  HttpResult unknown = client_->Post("/v1/functions/digits/invoke?target=nope", OneImage());
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("unknown target 'nope'"));
  EXPECT_THAT(unknown.body, HasSubstr("edge, cloud-cpu, cloud-b"));
  HttpResult ambiguous = client_->Post("/v1/functions/digits/invoke?tier=cloud", OneImage());
  EXPECT_EQ(ambiguous.status, 400);
  EXPECT_THAT(ambiguous.body, HasSubstr("several targets"));

  for (const char* target : {"cloud-cpu", "cloud-b", "edge"}) {
    for (int i = 0; i < 6; ++i) {
      HttpResult r =
          client_->Post(absl::StrCat("/v1/functions/digits/invoke?target=", target), OneImage());
      ASSERT_EQ(r.status, 200) << target << ": " << r.body;
      EXPECT_EQ(r.Header("x-stoa-target"), target);
      EXPECT_EQ(r.Header("x-stoa-tier"), std::string(target) == "edge" ? "edge" : "cloud");
      EXPECT_EQ(r.Header("x-stoa-reason"), "forced");
    }
  }
  HttpResult by_tier = client_->Post("/v1/functions/digits/invoke?tier=edge", OneImage());
  ASSERT_EQ(by_tier.status, 200) << by_tier.body;
  EXPECT_EQ(by_tier.Header("x-stoa-target"), "edge");

  // Sequential calls on the pool go to the member that has the function:
  // the other never loads it.
  EXPECT_NE(LoadedThere(metrics_[0], "digits"), LoadedThere(metrics_[1], "digits"));
  EXPECT_TRUE(LoadedThere(metrics_[2], "digits"));

  const std::string metrics = client_->Get("/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("stoa_invocations_total{function=\"digits\",outcome=\"ok\","
                                 "target=\"cloud-cpu\",tier=\"cloud\"} 6"));
  EXPECT_THAT(metrics, HasSubstr("stoa_invocations_total{function=\"digits\",outcome=\"ok\","
                                 "target=\"cloud-b\",tier=\"cloud\"} 6"));
  EXPECT_THAT(metrics, HasSubstr("target=\"edge\",tier=\"edge\""));

  json state = json::parse(client_->Get("/v1/scheduler/state").body);
  for (const char* target : {"edge", "cloud-cpu", "cloud-b"}) {
    EXPECT_GE(state["functions"]["digits"][target]["observations"].get<int>(), 6) << target;
    EXPECT_TRUE(state["tiers"].contains(target)) << target;
  }

  // Unforced: the scheduler places on all three and every request succeeds.
  for (int i = 0; i < 30; ++i) {
    HttpResult r = client_->Post("/v1/functions/digits/invoke", OneImage());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_THAT(r.Header("x-stoa-target"), ::testing::AnyOf("edge", "cloud-cpu", "cloud-b"));
  }
}

// Two cloud targets, each behind its own emulated link (no edge): "near"
// starts fast and "far" 25 ms away, so the predictive policy places on
// near; then near's link goes to 60 ms and traffic moves to far.
TEST(TargetsSlowLinkTest, TrafficMovesOffATargetThatBecomesSlow) {
  auto near_exec = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  auto far_exec = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(near_exec, nullptr);
  ASSERT_NE(far_exec, nullptr);
  Linkem near_link({"--listen", "127.0.0.1:0", "--upstream", near_exec->address()});
  Linkem far_link(
      {"--listen", "127.0.0.1:0", "--upstream", far_exec->address(), "--delay-ms", "25"});
  ASSERT_FALSE(near_link.address().empty());
  ASSERT_FALSE(far_link.address().empty());
  auto gateway =
      Process::Start(BinaryPath("stoa-gateway"),
                     {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("targets-slow"),
                      "--edge", "none", "--status-interval-ms", "100", "--target",
                      absl::StrCat("near=cloud:cpu:", near_link.address()), "--target",
                      absl::StrCat("far=cloud:cpu:", far_link.address())});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  Multipart reg = MakeRegistration(
      R"({"name":"digits","runtime":"onnx","tiers":["cloud"],"limits":{"timeout_ms":5000}})",
      model);
  ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  auto count_on = [&](int n, const std::string& target) {
    int on = 0;
    for (int i = 0; i < n; ++i) {
      HttpResult r = client.Post("/v1/functions/digits/invoke", OneImage());
      EXPECT_EQ(r.status, 200) << r.body;
      on += r.Header("x-stoa-target") == target;
    }
    return on;
  };
  count_on(30, "near");  // both measured and warm
  EXPECT_GE(count_on(20, "near"), 17);
  HttpClient control(near_link.control());
  ASSERT_EQ(control.Put("/link", R"({"delay_ms": 60})").status, 200);
  count_on(40, "far");  // adapting
  EXPECT_GE(count_on(20, "far"), 17);
}

TEST(TargetFlagsTest, BadTargetSpecsExitTwoNamingTheFlag) {
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--target", "gpu=cloud:tpu:127.0.0.1:1"},
           {"--target", "a=cloud:cpu:127.0.0.1:1", "--target", "a=cloud:cpu:127.0.0.1:2"},
           {"--target", "edge=edge:cpu:127.0.0.1:1"},
           {"--target", "gpu=cloud:cuda:"},  // no address needs --registry etcd://
       }) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--data-dir",
                                     MakeTempDir("targets-bad")};
    args.insert(args.end(), flags.begin(), flags.end());
    ExitResult r = RunToExit(BinaryPath("stoa-gateway"), args);
    EXPECT_EQ(r.exit_code, 2) << flags.back();
    EXPECT_THAT(r.stderr_text, HasSubstr("--target")) << flags.back();
  }
}

}  // namespace
}  // namespace stoa::testing
