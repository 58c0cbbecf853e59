// Split inference end to end (docs/split.md): a gateway with its in-process
// edge and a stoa-executor as cloud; the LeNet example registered with
// "split": true; every cut forced with ?split= gives the unsplit outputs and
// X-Stoa-Split; the planner's view in GET /v1/scheduler/state; bad split
// names and bad registrations are 400. Then both tiers as stoa-executors
// behind stoa-linkem: a prefix that takes most of the function's timeout
// leaves the suffix only the rest of it (504 naming the split).
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string LenetBody(int batch) {
  json data = json::array();
  for (int i = 0; i < batch * 64; ++i) data.push_back((i * 7) % 17);
  json body;
  body["inputs"] = json::array(
      {{{"name", "pixels"}, {"shape", {batch, 1, 8, 8}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

std::vector<float> Outputs(const HttpResult& r) {
  return json::parse(r.body)["outputs"][0]["data"].get<std::vector<float>>();
}

class SplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    executor_ = Process::Start(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--threads", "2", "--device", "auto"});
    ASSERT_NE(executor_, nullptr);
    gateway_ = Process::Start(BinaryPath("stoa-gateway"),
                              {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("split"),
                               "--cloud", executor_->address()});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
  }

  HttpResult Register(const std::string& spec, const std::string& artifact) {
    Multipart reg = MakeRegistration(spec, artifact);
    return client_->Post("/v1/functions", reg.body, reg.content_type);
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(SplitTest, EveryForcedCutGivesTheUnsplitOutputs) {
  const std::string lenet = ReadFileOrDie(SourcePath("functions/examples/lenet/lenet.onnx"));
  HttpResult r = Register(R"({"name":"lenet","runtime":"onnx","split":true})", lenet);
  ASSERT_EQ(r.status, 201) << r.body;
  const json cuts = json::parse(r.body)["split_cuts"];
  ASSERT_GE(cuts.size(), 3u) << r.body;
  HttpResult got = client_->Get("/v1/functions/lenet");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(json::parse(got.body)["split_cuts"], cuts);

  const std::string body = LenetBody(2);
  HttpResult whole = client_->Post("/v1/functions/lenet/invoke?tier=edge", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.Header("x-stoa-split"), "");
  const std::vector<float> expected = Outputs(whole);
  ASSERT_EQ(expected.size(), 20u);
  for (const json& cut : cuts) {
    const std::string name = cut["tensor"].get<std::string>();
    HttpResult split = client_->Post("/v1/functions/lenet/invoke?split=" + name, body);
    ASSERT_EQ(split.status, 200) << name << ": " << split.body;
    EXPECT_EQ(split.Header("x-stoa-split"), name);
    EXPECT_EQ(split.Header("x-stoa-tier"), "cloud");
    const std::vector<float> out = Outputs(split);
    ASSERT_EQ(out.size(), expected.size());
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 1e-5) << name;
  }
  // Unforced: the planner tries every option once, each answering the same.
  for (size_t i = 0; i < cuts.size() + 2; ++i) {
    HttpResult planned = client_->Post("/v1/functions/lenet/invoke", body);
    ASSERT_EQ(planned.status, 200) << planned.body;
    const std::vector<float> out = Outputs(planned);
    for (size_t k = 0; k < out.size(); ++k) EXPECT_NEAR(out[k], expected[k], 1e-5);
  }
  HttpResult metrics = client_->Get("/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("stoa_split_decisions_total{"));
  EXPECT_THAT(metrics.body, HasSubstr("reason=\"forced\""));
}

TEST_F(SplitTest, TheStateShowsThePlannersView) {
  const std::string lenet = ReadFileOrDie(SourcePath("functions/examples/lenet/lenet.onnx"));
  HttpResult r = Register(R"({"name":"lenet","runtime":"onnx","split":true})", lenet);
  ASSERT_EQ(r.status, 201) << r.body;
  const size_t cuts = json::parse(r.body)["split_cuts"].size();
  ASSERT_EQ(Register(R"({"name":"plain","runtime":"onnx"})", lenet).status, 201);
  json state = json::parse(client_->Get("/v1/scheduler/state").body);
  ASSERT_TRUE(state["split"]["lenet"].is_object()) << state.dump();
  EXPECT_FALSE(state["split"].contains("plain"));
  EXPECT_TRUE(state["split"]["lenet"]["last_choice"].is_null());
  const std::string body = LenetBody(1);
  // The planner tries every option until each has a warm observation (cold
  // starts teach it nothing): at most two cold calls per tier on top.
  for (size_t i = 0; i < cuts + 6; ++i) {
    ASSERT_EQ(client_->Post("/v1/functions/lenet/invoke", body).status, 200);
  }
  state = json::parse(client_->Get("/v1/scheduler/state").body);
  const json& view = state["split"]["lenet"];
  ASSERT_EQ(view["options"].size(), cuts + 2) << view.dump();
  EXPECT_EQ(view["options"][0]["placement"], "whole_edge");
  EXPECT_EQ(view["options"][1]["placement"], "whole_cloud");
  for (const json& option : view["options"]) {
    EXPECT_GE(option["observations"].get<int>(), 1) << option.dump();
    EXPECT_GT(option["predicted_ms"].get<double>(), 0.0) << option.dump();
  }
  EXPECT_EQ(view["options"][2]["placement"], "split");
  EXPECT_TRUE(view["options"][2]["cut"].is_string());
  EXPECT_TRUE(view["last_choice"].is_object()) << view.dump();
  EXPECT_EQ(view["input_bytes"].get<double>(), 64 * 4);
  EXPECT_GT(view["link"]["rate_mbit"].get<double>(), 0.0);
  EXPECT_EQ(view["link"]["target"], "cloud");
  EXPECT_LT(view["best"].get<size_t>(), cuts + 2);
}

TEST_F(SplitTest, BadSplitsAreRefusedByName) {
  const std::string lenet = ReadFileOrDie(SourcePath("functions/examples/lenet/lenet.onnx"));
  HttpResult r = Register(R"({"name":"wasmsplit","runtime":"wasm","split":true})",
                          std::string("\0asm\1\0\0\0", 8));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("spec field 'split' is for ONNX functions only"));
  r = Register(R"({"name":"lenet","runtime":"onnx","split":"yes"})", lenet);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'split' must be true or false"));
  ASSERT_EQ(Register(R"({"name":"lenet","runtime":"onnx","split":true})", lenet).status, 201);
  ASSERT_EQ(Register(R"({"name":"plain","runtime":"onnx"})", lenet).status, 201);

  const std::string body = LenetBody(1);
  r = client_->Post("/v1/functions/lenet/invoke?split=no_such_tensor", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("no cut point 'no_such_tensor'"));
  r = client_->Post("/v1/functions/lenet/invoke?split=no_such_tensor&tier=edge", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("cannot be combined"));
  r = client_->Post("/v1/functions/plain/invoke?split=x", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("registered with \\\"split\\\": true"));
  // Still serving, and "none" runs the whole function.
  r = client_->Post("/v1/functions/lenet/invoke?split=none", body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-stoa-split"), "");
}

// Both tiers are stoa-executors behind stoa-linkem; the links' delays are
// changed live (PUT /link on each linkem's control address).
class SplitDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      executors_[i] =
          Process::Start(BinaryPath("stoa-executor"),
                         {"--listen", "127.0.0.1:0", "--threads", "2", "--device", "cpu"});
      ASSERT_NE(executors_[i], nullptr);
      links_[i] = Process::Start(BinaryPath("stoa-linkem"),
                                 {"--listen", "127.0.0.1:0", "--upstream", executors_[i]->address(),
                                  "--control", "127.0.0.1:0", "--log-level", "warn"});
      ASSERT_NE(links_[i], nullptr);
      const std::string line = links_[i]->ReadLine();
      ASSERT_THAT(line, HasSubstr("stoa-linkem control on ")) << line;
      controls_[i] = std::make_unique<HttpClient>(line.substr(line.rfind(' ') + 1));
    }
    gateway_ = Process::Start(BinaryPath("stoa-gateway"),
                              {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("splitdl"),
                               "--edge", links_[0]->address(), "--cloud", links_[1]->address()});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
  }

  void SetDelays(int edge_ms, int cloud_ms) {
    for (int i = 0; i < 2; ++i) {
      const int ms = i == 0 ? edge_ms : cloud_ms;
      HttpResult r = controls_[i]->Put("/link", json{{"delay_ms", ms}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }

  std::unique_ptr<Process> executors_[2], links_[2], gateway_;
  std::unique_ptr<HttpClient> controls_[2], client_;
};

TEST_F(SplitDeadlineTest, TheSuffixGetsWhatThePrefixLeftOfTheTimeout) {
  const std::string lenet = ReadFileOrDie(SourcePath("functions/examples/lenet/lenet.onnx"));
  Multipart reg = MakeRegistration(
      R"({"name":"lenet","runtime":"onnx","split":true,"limits":{"timeout_ms":700}})", lenet);
  HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string cut = json::parse(r.body)["split_cuts"][0]["tensor"].get<std::string>();
  const std::string url = "/v1/functions/lenet/invoke?split=" + cut;
  const std::string body = LenetBody(1);
  r = client_->Post(url, body);  // loads the function on both tiers
  ASSERT_EQ(r.status, 200) << r.body;

  // The edge's round trip (2 × 250 ms) takes most of the 700 ms; the cloud's
  // (2 × 150 ms) fits the timeout but not the 200 ms the prefix left of it.
  SetDelays(250, 150);
  r = client_->Post(url, body);
  const std::string message = ErrorMessage(r, 504, "DEADLINE_EXCEEDED");
  EXPECT_THAT(message, HasSubstr("split at '" + cut + "'")) << message;
  EXPECT_THAT(message, HasSubstr("cloud suffix")) << message;
  EXPECT_THAT(message, HasSubstr("of the function's 700 ms timeout")) << message;

  SetDelays(0, 0);  // still serving, and a split that fits answers
  r = client_->Post(url, body);
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace stoa::testing
