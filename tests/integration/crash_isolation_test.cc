// Issue 10, crash isolation, against the real stoa-gateway and
// stoa-executor: bytes that are not UTF-8 from a function's stderr or a
// model's names, and a Wasm table declared huge. Each case asserts the
// documented status with a body a strict JSON parser accepts, that both
// processes keep serving (healthz, a following invoke), and bounds on the
// time of the answer and on the processes' resident memory.
#include <chrono>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace onnx_builders = ::stoa::functions::testing;

constexpr int64_t kMaxRssKiB = 512 * 1024;  // both processes idle at well under 100 MiB
constexpr double kMaxAnswerSeconds = 5.0;
// Registering a valid Wasm module compiles it (wasm2c + cc: seconds, more on
// a loaded machine); refusals come before compiling.
constexpr double kMaxCompileSeconds = 180.0;

int64_t RssKiB(pid_t pid) { return ProcStatusKiB(pid, "VmRSS"); }

class CrashIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Platform platform = StartPlatform("crash");
    executor_ = std::move(platform.executor);
    gateway_ = std::move(platform.gateway);
    client_ = std::move(platform.client);
    ASSERT_NE(client_, nullptr);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    // Both processes still serve, within their memory bound.
    EXPECT_TRUE(gateway_->Running());
    EXPECT_TRUE(executor_->Running());
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    HttpResult list = client_->Get("/v1/functions");
    EXPECT_EQ(list.status, 200);
    EXPECT_NO_THROW(json::parse(list.body)) << list.body;
    EXPECT_EQ(client_->Get("/v1/scheduler/state").status, 200);
    for (const Process* p : {gateway_.get(), executor_.get()}) {
      const int64_t rss = RssKiB(p->pid());
      EXPECT_GT(rss, 0);
      EXPECT_LT(rss, kMaxRssKiB) << "pid " << p->pid();
    }
  }

  // The request, timed; its body must be JSON a strict parser accepts.
  HttpResult Timed(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& content_type, double max_seconds = kMaxAnswerSeconds) {
    const auto start = std::chrono::steady_clock::now();
    HttpResult r = client_->Request(method, target, body, content_type);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, max_seconds) << method << " " << target;
    return r;
  }

  HttpResult Register(const std::string& spec, const std::string& artifact,
                      double max_seconds = kMaxAnswerSeconds) {
    Multipart reg = MakeRegistration(spec, artifact);
    return Timed("POST", "/v1/functions", reg.body, reg.content_type, max_seconds);
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

// It aborted the edge gateway (type_error 316 thrown in the executor's
// callback) and left the cloud request unanswered, its connection held.
TEST_F(CrashIsolationTest, WasmStderrThatIsNotUtf8IsA500WithValidJsonOnBothTiers) {
  if (WasmExample("bad_stderr").empty()) GTEST_SKIP() << "wasm examples not built";
  ASSERT_EQ(Register(R"({"name":"bad-stderr","runtime":"wasm"})", WasmExample("bad_stderr"),
                     kMaxCompileSeconds)
                .status,
            201);
  ASSERT_EQ(
      Register(R"({"name":"anomaly","runtime":"wasm"})", WasmExample("anomaly"), kMaxCompileSeconds)
          .status,
      201);
  for (const std::string tier : {"edge", "cloud", "edge", "cloud"}) {
    HttpResult r =
        Timed("POST", "/v1/functions/bad-stderr/invoke?tier=" + tier, "input", "text/plain");
    const std::string message = ErrorMessage(r, 500, "INTERNAL");
    EXPECT_THAT(message, HasSubstr("function exited with status 2; stderr: sensor "
                                   "\xEF\xBF\xBD\xEF\xBF\xBD offline \xEF\xBF\xBD("))
        << tier;
    EXPECT_EQ(client_->Get("/healthz").status, 200) << tier;
    r = Timed("POST", "/v1/functions/anomaly/invoke?tier=" + tier,
              R"({"sensor":"t-7","values":[20,20.1,19.9,20.2,35,20,19.8]})", "application/json");
    EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
  }
}

// Names become the signature (GET /v1/functions answered 500 for everyone)
// and error messages: refused at registration, naming the problem.
TEST_F(CrashIsolationTest, OnnxNamesThatAreNotUtf8AreRefusedAtRegistration) {
  using onnx_builders::MakeModel;
  using onnx_builders::MakeNode;
  using onnx_builders::ValueInfo;
  const std::string bad = "probabilities\xff\xfe";
  const std::string output_name = MakeModel({MakeNode("Relu", "act", {"x"}, {bad})},
                                            {ValueInfo("x", {-1, 2})}, {ValueInfo(bad, {-1, 2})})
                                      .SerializeAsString();
  EXPECT_THAT(ErrorMessage(Register(R"({"name":"bad-names","runtime":"onnx"})", output_name), 400,
                           "INVALID_ARGUMENT"),
              HasSubstr("is not valid UTF-8 (byte 13 is 0xff)"));
  const std::string node_name = MakeModel({MakeNode("Relu", "act\xc3(", {"x"}, {"y"})},
                                          {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})})
                                    .SerializeAsString();
  EXPECT_THAT(ErrorMessage(Register(R"({"name":"bad-names","runtime":"onnx"})", node_name), 400,
                           "INVALID_ARGUMENT"),
              HasSubstr("node #0 name is not valid UTF-8"));
  const std::string long_name =
      MakeModel({MakeNode("Relu", std::string(10'000, 'n'), {"x"}, {"y"})},
                {ValueInfo("x", {-1, 2})}, {ValueInfo("y", {-1, 2})})
          .SerializeAsString();
  EXPECT_THAT(ErrorMessage(Register(R"({"name":"bad-names","runtime":"onnx"})", long_name), 400,
                           "INVALID_ARGUMENT"),
              HasSubstr("node #0 name is 10000 bytes long; the limit is 1024 bytes"));
  EXPECT_EQ(client_->Get("/v1/functions/bad-names").status, 404);  // nothing stored

  // The same model with UTF-8 names registers and runs on both tiers.
  const std::string good = MakeModel({MakeNode("Relu", "act", {"x"}, {"caf\xc3\xa9"})},
                                     {ValueInfo("x", {-1, 2})}, {ValueInfo("caf\xc3\xa9", {-1, 2})})
                               .SerializeAsString();
  ASSERT_EQ(Register(R"({"name":"good-names","runtime":"onnx"})", good).status, 201);
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = Timed("POST", "/v1/functions/good-names/invoke?tier=" + tier,
                         R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32",)"
                         R"("data":[-1,2]}]})",
                         "application/json");
    ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    json out = json::parse(r.body);
    EXPECT_EQ(out["outputs"][0]["name"], "caf\xc3\xa9");
    EXPECT_EQ(out["outputs"][0]["data"], json::array({0, 2}));
  }
}

// A 45-byte module declaring a 10,000,000-entry funcref table: refused
// at registration naming the limit, on whichever engine the gateway runs.
TEST_F(CrashIsolationTest, HugeWasmTableIsRefusedAtRegistration) {
  if (WasmExample("big_table").empty()) GTEST_SKIP() << "wasm examples not built";
  const std::string message =
      ErrorMessage(Register(R"({"name":"big-table","runtime":"wasm"})", WasmExample("big_table")),
                   400, "INVALID_ARGUMENT");
  EXPECT_THAT(message, HasSubstr("table 0 declares 10000000 entries at start; the limit is 100000 "
                                 "entries per table"));
  EXPECT_EQ(client_->Get("/v1/functions/big-table").status, 404);
  // table.grow past the cap fails (-1) instead of allocating, on both tiers.
  ASSERT_EQ(Register(R"({"name":"table-grow","runtime":"wasm"})", WasmExample("table_grow"),
                     kMaxCompileSeconds)
                .status,
            201);
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = Timed("POST", "/v1/functions/table-grow/invoke?tier=" + tier, "", "text/plain");
    EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
  }
}

}  // namespace
}  // namespace stoa::testing
