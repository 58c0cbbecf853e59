// Wasm functions end to end: registered over REST, run on both tiers
// (in-process edge executor, stoa-executor over gRPC as cloud), hostile
// modules stopped with 504/500 while a good function keeps answering, and
// invalid modules refused without changing anything.
#include <atomic>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kWindow[] = R"({"sensor":"t-7","values":[20,20.1,19.9,20.2,35,20,19.8]})";

class WasmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("anomaly").empty()) GTEST_SKIP() << "wasm examples not built";
    executor_ =
        Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0", "--threads", "2"});
    ASSERT_NE(executor_, nullptr);
    gateway_ = Process::Start(BinaryPath("stoa-gateway"),
                              {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("wasm"),
                               "--cloud", executor_->address(), "--edge-threads", "2"});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
  }

  HttpResult Register(const std::string& spec, const std::string& wasm) {
    Multipart reg = MakeRegistration(spec, wasm);
    return client_->Post("/v1/functions", reg.body, reg.content_type);
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(WasmTest, RoundTripOnBothTiers) {
  HttpResult r =
      Register(R"({"name":"anomaly","runtime":"wasm","content_type":"application/json"})",
               WasmExample("anomaly"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["runtime"], "wasm");
  for (const std::string tier : {"edge", "cloud"}) {
    r = client_->Post("/v1/functions/anomaly/invoke?tier=" + tier, kWindow, "text/plain");
    ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), tier);
    EXPECT_EQ(r.Header("content-type"), "application/json");
    json out = json::parse(r.body);
    EXPECT_EQ(out["sensor"], "t-7");
    ASSERT_EQ(out["anomalies"].size(), 1u) << r.body;
    EXPECT_EQ(out["anomalies"][0]["index"], 4);
  }
}

// The pre-processor turns a raw 8x8 image into the digits model's request,
// on either tier, and the model classifies it.
TEST_F(WasmTest, PreprocessorFeedsTheDigitsModel) {
  ASSERT_EQ(Register(R"({"name":"digits-pre","runtime":"wasm","content_type":"application/json"})",
                     WasmExample("digits_pre"))
                .status,
            201);
  ASSERT_EQ(Register(R"({"name":"digits","runtime":"onnx"})",
                     ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")))
                .status,
            201);
  std::ifstream split(SourcePath("functions/examples/digits/test_split.csv"));
  std::string line;
  int tested = 0, correct = 0;
  while (std::getline(split, line) && tested < 20) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::stringstream ss(line);
    std::string cell;
    std::vector<int> values;
    while (std::getline(ss, cell, ',')) values.push_back(std::stoi(cell));
    ASSERT_EQ(values.size(), 65u);
    std::string raw;  // 0-16 scaled to a grey byte 0-255
    for (int i = 0; i < 64; ++i)
      raw.push_back(static_cast<char>(std::lround(values[i] * 255.0 / 16)));
    const std::string tier = tested % 2 ? "cloud" : "edge";
    HttpResult pre = client_->Post("/v1/functions/digits-pre/invoke?tier=" + tier, raw,
                                   "application/octet-stream");
    ASSERT_EQ(pre.status, 200) << pre.body;
    json request = json::parse(pre.body);
    std::vector<int> pixels = request["inputs"][0]["data"].get<std::vector<int>>();
    EXPECT_EQ(pixels, std::vector<int>(values.begin(), values.begin() + 64));
    HttpResult inferred = client_->Post("/v1/functions/digits/invoke", pre.body);
    ASSERT_EQ(inferred.status, 200) << inferred.body;
    std::vector<float> p =
        json::parse(inferred.body)["outputs"][0]["data"].get<std::vector<float>>();
    correct += std::max_element(p.begin(), p.end()) - p.begin() == values[64];
    ++tested;
  }
  EXPECT_EQ(tested, 20);
  EXPECT_GE(correct, 18);
}

TEST_F(WasmTest, HostileModulesFailWhileAGoodFunctionKeepsAnswering) {
  ASSERT_EQ(Register(R"({"name":"anomaly","runtime":"wasm"})", WasmExample("anomaly")).status, 201);
  ASSERT_EQ(Register(R"({"name":"loop","runtime":"wasm","limits":{"timeout_ms":200}})",
                     WasmExample("loop"))
                .status,
            201);
  ASSERT_EQ(Register(R"({"name":"oob","runtime":"wasm"})", WasmExample("oob")).status, 201);
  ASSERT_EQ(Register(R"({"name":"bomb","runtime":"wasm","limits":{"memory_mb":16}})",
                     WasmExample("membomb"))
                .status,
            201);
  ASSERT_EQ(Register(R"({"name":"recurse","runtime":"wasm"})", WasmExample("recurse")).status, 201);

  std::atomic<bool> done{false};
  std::atomic<int> good{0}, bad{0};
  std::thread good_caller([&] {
    HttpClient client(gateway_->address());
    int i = 0;
    while (!done.load() || i < 10) {
      const std::string tier = i++ % 2 ? "cloud" : "edge";
      HttpResult r = client.Post("/v1/functions/anomaly/invoke?tier=" + tier, kWindow);
      (r.status == 200 && r.body.find(R"("index":4)") != std::string::npos ? good : bad)++;
    }
  });
  for (const std::string tier : {"edge", "cloud"}) {
    const std::string q = "?tier=" + tier;
    HttpResult r = client_->Post("/v1/functions/loop/invoke" + q, "");
    EXPECT_EQ(r.status, 504) << tier << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr("deadline"));
    r = client_->Post("/v1/functions/oob/invoke" + q, "");
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_THAT(r.body, HasSubstr("out of bounds memory access"));
    r = client_->Post("/v1/functions/bomb/invoke" + q, "");
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_THAT(r.body, HasSubstr("linear memory is near its limit"));
    r = client_->Post("/v1/functions/recurse/invoke" + q, "");
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_THAT(r.body, HasSubstr("call stack exhausted"));
  }
  done = true;
  good_caller.join();
  EXPECT_GE(good.load(), 10);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(gateway_->Running());
  EXPECT_TRUE(executor_->Running());
}

TEST_F(WasmTest, InvalidModulesAreRefusedAndChangeNothing) {
  ASSERT_EQ(Register(R"({"name":"anomaly","runtime":"wasm"})", WasmExample("anomaly")).status, 201);
  const std::string before = client_->Get("/v1/functions").body;
  struct Case {
    std::string wasm, message;
  };
  const std::vector<Case> cases = {
      {WasmExample("forbidden_import"), "import 'env.open_socket' is not allowed"},
      {WasmExample("no_start"), "no _start function"},
      {WasmExample("import_memory"), "is not a function"},
      {"not wasm at all", "not a WebAssembly module"},
      {WasmExample("anomaly").substr(0, 5000), "invalid WebAssembly module"},
  };
  for (const Case& c : cases) {
    HttpResult r = Register(R"({"name":"bad","runtime":"wasm"})", c.wasm);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.message));
    // Replacing a good function with a bad module keeps the good one.
    Multipart put = MakeRegistration(R"({"name":"anomaly","runtime":"wasm"})", c.wasm);
    r = client_->Put("/v1/functions/anomaly", put.body, put.content_type);
    EXPECT_EQ(r.status, 400) << r.body;
  }
  EXPECT_EQ(client_->Get("/v1/functions/bad").status, 404);
  EXPECT_EQ(client_->Get("/v1/functions").body, before);
  HttpResult r = client_->Post("/v1/functions/anomaly/invoke", kWindow);
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace stoa::testing
