// Pipelines end to end (issue 16, docs/pipelines.md): a Wasm pre-processor,
// the digits ONNX model and a Wasm post-processor registered as one
// function on a real gateway with its in-process edge and a stoa-executor
// as cloud; placement per stage, the per-stage headers and metrics, errors
// naming the stage, and the registration rules.
#include <fstream>
#include <regex>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr char kOcr[] =
    R"({"name":"ocr","runtime":"pipeline","stages":[{"function":"digits-pixels"},)"
    R"({"function":"digits"},{"function":"digits-post"}]})";

// The first `n` held-out images as raw 8x8 grey bytes, with their labels.
std::vector<std::pair<std::string, int>> Images(int n) {
  std::ifstream split(SourcePath("functions/examples/digits/test_split.csv"));
  std::vector<std::pair<std::string, int>> out;
  std::string line;
  while (std::getline(split, line) && static_cast<int>(out.size()) < n) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::stringstream ss(line);
    std::string cell;
    std::vector<int> values;
    while (std::getline(ss, cell, ',')) values.push_back(std::stoi(cell));
    std::string raw;
    for (int i = 0; i < 64; ++i) {
      raw.push_back(static_cast<char>(std::lround(values[i] * 255.0 / 16)));
    }
    out.emplace_back(raw, values[64]);
  }
  return out;
}

// "a=edge:1.234ms,b=cloud:2.000ms" → {{"a","edge"},{"b","cloud"}}; fails
// the test on a malformed header.
std::vector<std::pair<std::string, std::string>> StageTiers(const std::string& header) {
  std::vector<std::pair<std::string, std::string>> out;
  static const std::regex kStage(R"(([a-z0-9_.-]+)=(edge|cloud):([0-9]+\.[0-9]{3})ms)");
  std::stringstream ss(header);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::smatch m;
    EXPECT_TRUE(std::regex_match(item, m, kStage)) << header;
    if (m.size() == 4) out.emplace_back(m[1], m[2]);
  }
  return out;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("digits_pixels").empty()) GTEST_SKIP() << "wasm examples not built";
    platform_ = StartPlatform("pipeline");
    ASSERT_NE(platform_.client, nullptr);
    client_ = platform_.client.get();
    ASSERT_EQ(Register(R"({"name":"digits-pixels","runtime":"wasm"})", "digits_pixels"), 201);
    ASSERT_EQ(RegisterDigits(*client_, "digits"), 201);
    ASSERT_EQ(
        Register(R"({"name":"digits-post","runtime":"wasm","content_type":"application/json"})",
                 "digits_post"),
        201);
  }

  int Register(const std::string& spec, const std::string& example) {
    Multipart reg = MakeRegistration(spec, WasmExample(example));
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status;
  }

  HttpResult RegisterPipeline(const std::string& spec) {
    return client_->Post("/v1/functions", spec, "application/json");
  }

  Platform platform_;
  HttpClient* client_ = nullptr;
};

TEST_F(PipelineTest, TheExamplePipelineClassifiesImagesWithTimingsPerStage) {
  HttpResult r = RegisterPipeline(kOcr);
  ASSERT_EQ(r.status, 201) << r.body;
  json stored = json::parse(r.body);
  EXPECT_EQ(stored["runtime"], "pipeline");
  EXPECT_EQ(stored["stages"].size(), 3u);
  EXPECT_EQ(stored["content_type"], "application/json");  // the last stage's
  int correct = 0;
  const auto images = Images(20);
  for (const auto& [raw, label] : images) {
    r = client_->Post("/v1/functions/ocr/invoke", raw, "application/octet-stream");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    json out = json::parse(r.body);
    ASSERT_EQ(out["digits"].size(), 1u) << r.body;
    correct += out["digits"][0]["digit"] == label;
    auto stages = StageTiers(r.Header("x-stoa-stage-timings"));
    ASSERT_EQ(stages.size(), 3u) << r.Header("x-stoa-stage-timings");
    EXPECT_EQ(stages[0].first, "digits-pixels");
    EXPECT_EQ(stages[1].first, "digits");
    EXPECT_EQ(stages[2].first, "digits-post");
    EXPECT_EQ(r.Header("x-stoa-tier"), stages[2].second);
    EXPECT_FALSE(r.Header("x-stoa-pipeline-overhead-ms").empty());
  }
  EXPECT_GE(correct, 18);
  const std::string metrics = client_->Get("/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr(R"(stoa_pipeline_invocations_total{outcome="ok",pipeline="ocr"} 20)"));
  for (const std::string stage : {"digits-pixels", "digits", "digits-post"}) {
    EXPECT_THAT(metrics,
                HasSubstr("stoa_pipeline_stage_duration_seconds_count{pipeline=\"ocr\",stage=\"" +
                          stage + "\",tier=\""));
  }
  // The stages ran as functions of their own, placed by the scheduler.
  EXPECT_THAT(metrics,
              HasSubstr(R"(stoa_invocations_total{function="digits",outcome="ok",target=)"));
}

TEST_F(PipelineTest, TensorsInTensorsThrough) {
  // digits → digits-post: the pipeline takes the model's KServe request.
  HttpResult r = RegisterPipeline(
      R"({"name":"classify","runtime":"pipeline","stages":[{"function":"digits"},{"function":"digits-post"}]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["inputs"][0]["name"], "pixels");
  json data = json::array();
  for (int i = 0; i < 128; ++i) data.push_back(i % 17);
  const std::string request =
      json{{"inputs",
            {{{"name", "pixels"}, {"shape", {2, 64}}, {"datatype", "FP32"}, {"data", data}}}}}
          .dump();
  r = client_->Post("/v1/functions/classify/invoke", request);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["digits"].size(), 2u) << r.body;  // the batch of 2 went through
  // A request that does not fit the first stage is the usual 400, before any stage runs.
  r = client_->Post("/v1/functions/classify/invoke", R"({"inputs":[]})");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(PipelineTest, ForcedTierAppliesToEveryStageAndAStageMayBePinned) {
  ASSERT_EQ(RegisterPipeline(kOcr).status, 201);
  const std::string raw = Images(1)[0].first;
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = client_->Post("/v1/functions/ocr/invoke?tier=" + tier, raw, "text/plain");
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& [stage, placed] : StageTiers(r.Header("x-stoa-stage-timings"))) {
      EXPECT_EQ(placed, tier) << stage;
    }
  }
  HttpResult r = RegisterPipeline(
      R"({"name":"ocr-pinned","runtime":"pipeline","stages":[{"function":"digits-pixels","tier":"edge"},)"
      R"({"function":"digits","tier":"cloud"},{"function":"digits-post","tier":"edge"}]})");
  ASSERT_EQ(r.status, 201) << r.body;
  for (int i = 0; i < 3; ++i) {
    r = client_->Post("/v1/functions/ocr-pinned/invoke", raw, "text/plain");
    ASSERT_EQ(r.status, 200) << r.body;
    auto stages = StageTiers(r.Header("x-stoa-stage-timings"));
    ASSERT_EQ(stages.size(), 3u);
    EXPECT_EQ(stages[0].second, "edge");
    EXPECT_EQ(stages[1].second, "cloud");
    EXPECT_EQ(stages[2].second, "edge");
  }
  // ?tier= wins over the pins.
  r = client_->Post("/v1/functions/ocr-pinned/invoke?tier=cloud", raw, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  for (const auto& [stage, placed] : StageTiers(r.Header("x-stoa-stage-timings"))) {
    EXPECT_EQ(placed, "cloud") << stage;
  }
}

TEST_F(PipelineTest, AFailingStageIsNamedWithItsStatus) {
  ASSERT_EQ(RegisterPipeline(kOcr).status, 201);
  // Five bytes are neither a PGM nor an 8x8 image: stage 1 refuses them.
  HttpResult r = client_->Post("/v1/functions/ocr/invoke?tier=edge", "hello", "text/plain");
  EXPECT_NE(r.status, 200);
  json error = json::parse(r.body)["error"];
  EXPECT_THAT(error["message"].get<std::string>(), StartsWith("stage 1 (digits-pixels): "));
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("neither a PGM image"));
  const std::string metrics = client_->Get("/metrics").body;
  EXPECT_TRUE(std::regex_search(
      metrics,
      std::regex(R"(stoa_pipeline_invocations_total\{outcome="[a-z_]+",pipeline="ocr"\} 1)")))
      << metrics;
  EXPECT_THAT(metrics, ::testing::Not(HasSubstr(R"(outcome="ok",pipeline="ocr")")));
  // The gateway keeps serving.
  r = client_->Post("/v1/functions/ocr/invoke", Images(1)[0].first, "text/plain");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(PipelineTest, RegistrationNamesTheStageAndTheMismatch) {
  HttpResult r = RegisterPipeline(
      R"({"name":"p","runtime":"pipeline","stages":[{"function":"digits-pixels"},{"function":"nope"}]})");
  EXPECT_EQ(ErrorMessage(r, 400, "INVALID_ARGUMENT"),
            "stage 2 (nope): function 'nope' not found (register it first)");
  r = RegisterPipeline(
      R"({"name":"p","runtime":"pipeline","stages":[{"function":"digits"},{"function":"digits"}]})");
  EXPECT_EQ(ErrorMessage(r, 400, "INVALID_ARGUMENT"),
            "stage 2 (digits): does not take what stage 1 (digits) produces: output 0 "
            "'probabilities' FP32 [-1,10] does not fit input 0 'pixels' FP32 [-1,64]: dimension 1");
  ASSERT_EQ(RegisterPipeline(kOcr).status, 201);
  r = RegisterPipeline(R"({"name":"outer","runtime":"pipeline","stages":[{"function":"ocr"}]})");
  EXPECT_THAT(ErrorMessage(r, 400, "INVALID_ARGUMENT"),
              HasSubstr("stage 1 (ocr): 'ocr' is itself a pipeline; pipelines do not nest"));
  r = RegisterPipeline(
      R"({"name":"p","runtime":"pipeline","artifact_base64":"AAAA","stages":[{"function":"digits"}]})");
  EXPECT_THAT(ErrorMessage(r, 400, "INVALID_ARGUMENT"), HasSubstr("a pipeline has no artifact"));
  // Nothing of the refused ones was stored.
  EXPECT_EQ(client_->Get("/v1/functions/p").status, 404);
  EXPECT_EQ(client_->Get("/v1/functions/outer").status, 404);
}

TEST_F(PipelineTest, AStageInUseCannotBeDeletedOrBroken) {
  ASSERT_EQ(RegisterPipeline(kOcr).status, 201);
  HttpResult r = client_->Delete("/v1/functions/digits");
  EXPECT_EQ(ErrorMessage(r, 409, "ALREADY_EXISTS"),
            "function 'digits' is a stage of pipeline 'ocr': delete or change the pipeline first");
  EXPECT_EQ(client_->Get("/v1/functions/digits").status, 200);
  // Replacing a stage by something that no longer fits is refused too: the
  // model's [N,10] output cannot feed another copy of the model.
  Multipart reg = MakeRegistration(R"({"name":"digits-post","runtime":"onnx"})", DigitsModel());
  r = client_->Put("/v1/functions/digits-post", reg.body, reg.content_type);
  EXPECT_THAT(ErrorMessage(r, 409, "ALREADY_EXISTS"),
              HasSubstr("function 'digits-post' is a stage of pipeline 'ocr', which this version "
                        "would break: stage 3 (digits-post): does not take what stage 2 (digits) "
                        "produces"));
  // Nor can a stage become a pipeline (they do not nest).
  r = client_->Put(
      "/v1/functions/digits",
      R"({"name":"digits","runtime":"pipeline","stages":[{"function":"digits-post"}]})",
      "application/json");
  EXPECT_THAT(ErrorMessage(r, 409, "ALREADY_EXISTS"), HasSubstr("is itself a pipeline"));
  r = client_->Post("/v1/functions/ocr/invoke", Images(1)[0].first, "text/plain");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client_->Delete("/v1/functions/ocr").status, 204);
  EXPECT_EQ(client_->Delete("/v1/functions/digits").status, 204);
}

}  // namespace
}  // namespace stoa::testing
