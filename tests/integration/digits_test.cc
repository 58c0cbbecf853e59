// The walking skeleton end to end: the held-out digits go HTTP → gateway →
// each tier (in-process edge, stoa-executor over gRPC as cloud) and back.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

struct Split {
  std::vector<std::vector<float>> images;
  std::vector<int> labels;
};

Split LoadSplit() {
  Split split;
  std::ifstream in(SourcePath("functions/examples/digits/test_split.csv"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::stringstream ss(line);
    std::string cell;
    std::vector<float> values;
    while (std::getline(ss, cell, ',')) values.push_back(std::stof(cell));
    if (values.size() != 65) continue;
    split.labels.push_back(static_cast<int>(values.back()));
    values.pop_back();
    split.images.push_back(std::move(values));
  }
  return split;
}

std::string InferBody(const std::vector<std::vector<float>>& images, size_t begin, size_t end) {
  json data = json::array();
  for (size_t i = begin; i < end; ++i)
    for (float v : images[i]) data.push_back(v);
  json body;
  body["inputs"] = json::array(
      {{{"name", "pixels"}, {"shape", {end - begin, 64}}, {"datatype", "FP32"}, {"data", data}}});
  return body.dump();
}

std::vector<float> Probabilities(const HttpResult& r) {
  json body = json::parse(r.body);
  EXPECT_EQ(body["outputs"][0]["name"], "probabilities");
  return body["outputs"][0]["data"].get<std::vector<float>>();
}

class DigitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    executor_ = Process::Start(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--threads", "2", "--device", "auto"});
    ASSERT_NE(executor_, nullptr);
    gateway_ = Process::Start(BinaryPath("stoa-gateway"),
                              {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("digits"),
                               "--cloud", executor_->address()});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    Multipart reg =
        MakeRegistration(R"({"name":"digits","runtime":"onnx","description":"digits MLP"})",
                         ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx")));
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    ASSERT_EQ(r.status, 201) << r.body;
    json fn = json::parse(r.body);
    EXPECT_EQ(fn["name"], "digits");
    EXPECT_EQ(fn["sha256"].get<std::string>().size(), 64u);
    EXPECT_THAT(r.body, HasSubstr("pixels"));
    EXPECT_THAT(r.body, HasSubstr("probabilities"));
    split_ = LoadSplit();
    ASSERT_GE(split_.images.size(), 300u) << "held-out split missing or short";
  }

  std::unique_ptr<Process> executor_, gateway_;
  std::unique_ptr<HttpClient> client_;
  Split split_;
};

TEST_F(DigitsTest, HeldOutAccuracyOnBothTiersAndIdenticalOutputs) {
  const size_t n = split_.images.size();
  std::map<std::string, std::vector<float>> by_tier;
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r =
        client_->Post("/v1/functions/digits/invoke?tier=" + tier, InferBody(split_.images, 0, n));
    ASSERT_EQ(r.status, 200) << tier << ": " << r.body;
    EXPECT_EQ(r.Header("x-stoa-tier"), tier);
    EXPECT_FALSE(r.Header("x-stoa-latency-ms").empty());
    EXPECT_FALSE(r.Header("x-stoa-predicted-ms").empty());
    std::vector<float> probs = Probabilities(r);
    ASSERT_EQ(probs.size(), n * 10);
    int correct = 0;
    for (size_t i = 0; i < n; ++i) {
      auto row = probs.begin() + static_cast<long>(i * 10);
      int predicted = static_cast<int>(std::max_element(row, row + 10) - row);
      correct += predicted == split_.labels[i];
    }
    double accuracy = static_cast<double>(correct) / static_cast<double>(n);
    std::printf("tier %s: accuracy %.4f on %zu held-out images\n", tier.c_str(), accuracy, n);
    EXPECT_GE(accuracy, 0.95) << tier;
    by_tier[tier] = std::move(probs);
  }
  const auto& edge = by_tier["edge"];
  const auto& cloud = by_tier["cloud"];
  ASSERT_EQ(edge.size(), cloud.size());
  for (size_t i = 0; i < edge.size(); ++i) ASSERT_NEAR(edge[i], cloud[i], 1e-5) << "element " << i;

  // Single images (batch 1) through the KServe alias agree with the batch.
  for (size_t i = 0; i < 10; ++i) {
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r =
          client_->Post("/v2/models/digits/infer?tier=" + tier, InferBody(split_.images, i, i + 1));
      ASSERT_EQ(r.status, 200) << r.body;
      std::vector<float> probs = Probabilities(r);
      ASSERT_EQ(probs.size(), 10u);
      for (size_t k = 0; k < 10; ++k) EXPECT_NEAR(probs[k], edge[i * 10 + k], 1e-5);
    }
  }
}

TEST_F(DigitsTest, FirstCloudInvocationIsAColdStartAndMetricsAreValid) {
  for (int i = 0; i < 3; ++i) {
    HttpResult r =
        client_->Post("/v1/functions/digits/invoke?tier=cloud", InferBody(split_.images, 0, 1));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Unforced requests go through the scheduler.
  for (int i = 0; i < 10; ++i) {
    HttpResult r = client_->Post("/v1/functions/digits/invoke", InferBody(split_.images, 0, 1));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_THAT(r.Header("x-stoa-tier"), ::testing::AnyOf("edge", "cloud"));
    EXPECT_FALSE(r.Header("x-stoa-reason").empty());
  }
  HttpResult metrics = client_->Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.Header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("stoa_cold_starts_total{function=\"digits\",target=\"cloud\",tier=\"cloud\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("stoa_invocations_total{"));
  EXPECT_THAT(metrics.body, HasSubstr("stoa_invocation_duration_seconds_bucket{"));
  EXPECT_THAT(metrics.body, HasSubstr("stoa_http_requests_total{"));
  EXPECT_THAT(metrics.body, HasSubstr("stoa_placements_total{"));

  // promtool (Debian's prometheus package) must accept the exposition.
  std::string path = MakeTempDir("metrics") + "/metrics.txt";
  std::ofstream(path) << metrics.body;
  std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << "promtool check metrics failed:\n" << output;

  HttpResult state = client_->Get("/v1/scheduler/state");
  ASSERT_EQ(state.status, 200);
  EXPECT_THAT(state.body, HasSubstr("digits"));
}

}  // namespace
}  // namespace stoa::testing
