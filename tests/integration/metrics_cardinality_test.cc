// Metric cardinality against the real binaries: functions registered,
// invoked on both tiers and deleted leave no series behind on the gateway
// or on stoa-executor; names a caller makes up (invoking or loading what is
// not loaded, over gRPC) create none; --metrics-max-series caps what is left.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Lines(const std::string& exposition) {
  return std::vector<std::string>(absl::StrSplit(exposition, '\n', absl::SkipEmpty())).size();
}

class MetricsCardinalityTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& extra_flags = {}) {
    const std::string metrics = absl::StrCat("127.0.0.1:", FreePort());
    std::vector<std::string> executor_flags = {
        "--listen",         "127.0.0.1:0", "--threads", "1",
        "--metrics-listen", metrics,       "--device",  "cpu"};
    executor_flags.insert(executor_flags.end(), extra_flags.begin(), extra_flags.end());
    executor_ = Process::Start(BinaryPath("stoa-executor"), executor_flags);
    ASSERT_NE(executor_, nullptr);
    std::vector<std::string> gateway_flags = {
        "--listen", "127.0.0.1:0",        "--data-dir",     MakeTempDir("cardinality"),
        "--cloud",  executor_->address(), "--edge-threads", "1"};
    gateway_flags.insert(gateway_flags.end(), extra_flags.begin(), extra_flags.end());
    gateway_ = Process::Start(BinaryPath("stoa-gateway"), gateway_flags);
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    executor_metrics_ = std::make_unique<HttpClient>(metrics);
    stub_ = v1::Executor::NewStub(
        grpc::CreateChannel(executor_->address(), grpc::InsecureChannelCredentials()));
    model_ = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
    sample_ = ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
  }

  std::string GatewayMetrics() {
    HttpResult r = client_->Get("/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  std::string ExecutorMetrics() {
    HttpResult r = executor_metrics_->Get("/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  // The gateway unloads a deleted function from stoa-executor after DELETE
  // has answered: the executor's exposition once no series names `prefix`
  // (or after 5 s).
  std::string ExecutorMetricsWithout(const std::string& prefix) {
    const std::string needle = "function=\"" + prefix;
    std::string text = ExecutorMetrics();
    for (int i = 0; i < 100 && text.find(needle) != std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      text = ExecutorMetrics();
    }
    return text;
  }

  void Register(const std::string& name) {
    Multipart reg = MakeRegistration(R"({"name":")" + name + R"(","runtime":"onnx"})", model_);
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void InvokeOn(const std::string& name, const std::string& tier) {
    HttpResult r = client_->Post("/v1/functions/" + name + "/invoke?tier=" + tier, sample_);
    ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
  }
  void Cycle(const std::string& name) {
    Register(name);
    InvokeOn(name, "edge");
    InvokeOn(name, "cloud");
    HttpResult r = client_->Delete("/v1/functions/" + name);
    ASSERT_EQ(r.status, 204) << r.body;
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<HttpClient> executor_metrics_;
  std::unique_ptr<v1::Executor::Stub> stub_;
  std::string model_;
  std::string sample_;
};

TEST_F(MetricsCardinalityTest, SixtyCyclesOnBothTiersLeaveTheExpositionsAsTheyWere) {
  Start();
  // The first cycle and scrapes create what does not name a function (the
  // routes and codes of stoa_http_requests_total, outcome="" series).
  Cycle("fn0");
  GatewayMetrics();
  const size_t gateway_after_one = Lines(GatewayMetrics());
  const size_t executor_after_one = Lines(ExecutorMetricsWithout("fn"));
  for (int i = 1; i < 60; ++i) {
    Cycle(absl::StrCat("fn", i));
    if (HasFatalFailure()) return;
  }
  const std::string gateway = GatewayMetrics();
  const std::string executor = ExecutorMetricsWithout("fn");
  std::cout << "/metrics lines after 1 and 60 cycles: gateway " << gateway_after_one << " → "
            << Lines(gateway) << ", executor " << executor_after_one << " → " << Lines(executor)
            << "\n";
  EXPECT_EQ(Lines(gateway), gateway_after_one);
  EXPECT_EQ(Lines(executor), executor_after_one);
  EXPECT_THAT(gateway, Not(HasSubstr("function=\"fn")));
  EXPECT_THAT(executor, Not(HasSubstr("function=\"fn")));
  EXPECT_THAT(gateway, Not(HasSubstr("stoa_metrics_series_dropped_total")));
}

TEST_F(MetricsCardinalityTest, UnknownNamesOverGrpcCreateNoSeries) {
  Start();
  auto invoke_ghost = [&](const std::string& name) {
    v1::InvokeRequest request;
    request.set_function(name);
    request.set_timeout_ms(1000);
    v1::InvokeResponse response;
    grpc::Status s = stub_->Invoke(Context().get(), request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  };
  auto load_garbage = [&](const std::string& name) {
    v1::LoadFunctionRequest request;
    request.mutable_spec()->set_name(name);
    request.mutable_spec()->set_runtime("onnx");
    request.set_artifact("not an onnx model");
    v1::LoadFunctionResponse response;
    grpc::Status s = stub_->LoadFunction(Context().get(), request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  };
  invoke_ghost("ghost-first");
  load_garbage("bad-first");
  const size_t before = Lines(ExecutorMetrics());
  for (int i = 0; i < 200; ++i) {
    invoke_ghost(absl::StrCat("ghost", i));
    load_garbage(absl::StrCat("bad", i));
  }
  const std::string after = ExecutorMetrics();
  EXPECT_EQ(Lines(after), before);
  EXPECT_THAT(after, Not(HasSubstr("ghost")));
  EXPECT_THAT(after, Not(HasSubstr("bad")));
  EXPECT_THAT(after,
              HasSubstr(R"(stoa_executor_invocations_total{function="",outcome="not_found"} 201)"));
  EXPECT_THAT(
      after, HasSubstr(R"(stoa_executor_loads_total{function="",outcome="invalid_argument"} 201)"));
}

TEST_F(MetricsCardinalityTest, TheCapFlagBoundsBothBinaries) {
  Start({"--metrics-max-series", "10"});
  for (int i = 0; i < 4; ++i) {
    const std::string name = absl::StrCat("kept", i);
    Register(name);
    InvokeOn(name, "edge");
    InvokeOn(name, "cloud");
    if (HasFatalFailure()) return;
  }
  // Past the cap, invocations still succeed; what was not created is counted.
  const std::string gateway = GatewayMetrics();
  EXPECT_THAT(gateway, HasSubstr("stoa_metrics_series_dropped_total{family=\"stoa_"));
  const std::string executor = ExecutorMetrics();
  EXPECT_THAT(executor, HasSubstr("stoa_metrics_series_dropped_total{family=\"stoa_executor_"));
  // Deleting frees room: a new function's series are exported again.
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(client_->Delete(absl::StrCat("/v1/functions/kept", i)).status, 204);
  }
  ExecutorMetricsWithout("kept");
  Register("fresh");
  InvokeOn("fresh", "cloud");
  EXPECT_THAT(ExecutorMetrics(),
              HasSubstr(R"(stoa_executor_invocations_total{function="fresh",outcome="ok"} 1)"));
}

}  // namespace
}  // namespace stoa::testing
