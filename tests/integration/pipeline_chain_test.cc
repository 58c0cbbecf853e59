// Pipeline chains end to end (issue 16 item 2, docs/pipelines.md § Chains):
// a real gateway with its in-process edge and a stoa-executor as cloud.
// Consecutive stages on the cloud run as ONE executor Invoke (counted by
// the executor's GetStatus: invoke_calls, chained_calls), their outputs
// equal the stage-by-stage run, an error in a chained stage is named, a
// stage the executor lost is loaded again on demand, and a split function
// works as a stage.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr char kOcr[] =
    R"({"name":"ocr","runtime":"pipeline","stages":[{"function":"digits-pixels"},)"
    R"({"function":"digits"},{"function":"digits-post"}]})";

// The first `n` held-out digits as raw 8x8 grey bytes.
std::vector<std::string> Images(int n) {
  std::ifstream split(SourcePath("functions/examples/digits/test_split.csv"));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(split, line) && static_cast<int>(out.size()) < n) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::stringstream ss(line);
    std::string cell, raw;
    for (int i = 0; i < 64 && std::getline(ss, cell, ','); ++i) {
      raw.push_back(static_cast<char>(std::lround(std::stoi(cell) * 255.0 / 16)));
    }
    out.push_back(raw);
  }
  return out;
}

class PipelineChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (WasmExample("digits_pixels").empty()) GTEST_SKIP() << "wasm examples not built";
    grpc_address_ = "127.0.0.1:" + std::to_string(FreePort());
    platform_ = StartPlatform("pipeline-chain", {"--grpc-listen", grpc_address_});
    ASSERT_NE(platform_.client, nullptr);
    client_ = platform_.client.get();
    stub_ = v1::Executor::NewStub(
        grpc::CreateChannel(platform_.executor->address(), grpc::InsecureChannelCredentials()));
    ASSERT_EQ(Register(R"({"name":"digits-pixels","runtime":"wasm"})", "digits_pixels"), 201);
    ASSERT_EQ(RegisterDigits(*client_, "digits"), 201);
    ASSERT_EQ(
        Register(R"({"name":"digits-post","runtime":"wasm","content_type":"application/json"})",
                 "digits_post"),
        201);
    ASSERT_EQ(Pipeline(kOcr), 201);
  }

  int Register(const std::string& spec, const std::string& example) {
    Multipart reg = MakeRegistration(spec, WasmExample(example));
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status;
  }
  int Pipeline(const std::string& spec) {
    HttpResult r = client_->Post("/v1/functions", spec, "application/json");
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status;
  }

  v1::GetStatusResponse ExecutorStatus() {
    grpc::ClientContext ctx;
    v1::GetStatusResponse status;
    EXPECT_TRUE(stub_->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
    return status;
  }

  Platform platform_;
  HttpClient* client_ = nullptr;
  std::string grpc_address_;
  std::unique_ptr<v1::Executor::Stub> stub_;
};

TEST_F(PipelineChainTest, ThreeCloudStagesRunAsOneExecutorCallWithTheSameOutputs) {
  const std::vector<std::string> images = Images(10);
  for (const std::string& raw : images) {
    HttpResult edge = client_->Post("/v1/functions/ocr/invoke?tier=edge", raw, "text/plain");
    ASSERT_EQ(edge.status, 200) << edge.body;
    EXPECT_EQ(edge.Header("x-stoa-chains"), "");  // the in-process edge needs no chain
    const v1::GetStatusResponse before = ExecutorStatus();
    HttpResult cloud = client_->Post("/v1/functions/ocr/invoke?tier=cloud", raw, "text/plain");
    ASSERT_EQ(cloud.status, 200) << cloud.body;
    const v1::GetStatusResponse after = ExecutorStatus();
    EXPECT_EQ(after.invoke_calls() - before.invoke_calls(), 1u);
    EXPECT_EQ(after.chained_calls() - before.chained_calls(), 1u);
    EXPECT_EQ(after.invocations() - before.invocations(), 3u);  // each stage ran there
    EXPECT_EQ(cloud.body, edge.body);
    EXPECT_EQ(cloud.Header("x-stoa-chains"), "1-3=cloud");
    const std::string timings = cloud.Header("x-stoa-stage-timings");
    EXPECT_THAT(timings, StartsWith("digits-pixels=cloud:"));
    EXPECT_THAT(timings, HasSubstr(",digits=cloud:"));
    EXPECT_THAT(timings, HasSubstr(",digits-post=cloud:"));
  }
  const std::string metrics = client_->Get("/metrics").body;
  EXPECT_THAT(metrics,
              HasSubstr(R"(stoa_pipeline_chained_calls_total{pipeline="ocr",target="cloud"} 10)"));
  // Each stage still counts as an invocation of its own on the cloud.
  for (const std::string stage : {"digits-pixels", "digits", "digits-post"}) {
    EXPECT_THAT(metrics, HasSubstr("stoa_invocations_total{function=\"" + stage +
                                   "\",outcome=\"ok\",target=\"cloud\",tier=\"cloud\"} 10"));
  }
}

v1::GetStatusResponse StatusOf(const std::string& address) {
  auto stub =
      v1::Executor::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::GetStatusResponse status;
  EXPECT_TRUE(stub->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok());
  return status;
}

// A target that is a pool of two executors: the chain goes to one member
// as one Invoke, and the pool loads there every stage the member lacks.
TEST(PipelineChainPoolTest, StagesOnAPoolTargetRunAsOneCallOnOneMember) {
  if (WasmExample("digits_pixels").empty()) GTEST_SKIP() << "wasm examples not built";
  auto a = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  auto b = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto gateway =
      Process::Start(BinaryPath("stoa-gateway"),
                     {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("chain-pool") + "/data",
                      "--cloud", a->address() + "," + b->address()});
  ASSERT_NE(gateway, nullptr);
  HttpClient client(gateway->address());
  for (const auto& [spec, example] : std::vector<std::pair<std::string, std::string>>{
           {R"({"name":"digits-pixels","runtime":"wasm"})", "digits_pixels"},
           {R"({"name":"digits-post","runtime":"wasm","content_type":"application/json"})",
            "digits_post"}}) {
    Multipart reg = MakeRegistration(spec, WasmExample(example));
    ASSERT_EQ(client.Post("/v1/functions", reg.body, reg.content_type).status, 201);
  }
  ASSERT_EQ(RegisterDigits(client, "digits"), 201);
  ASSERT_EQ(client.Post("/v1/functions", kOcr, "application/json").status, 201);
  const std::vector<std::string> images = Images(6);
  for (const std::string& raw : images) {
    HttpResult edge = client.Post("/v1/functions/ocr/invoke?tier=edge", raw, "text/plain");
    ASSERT_EQ(edge.status, 200) << edge.body;
    const v1::GetStatusResponse a0 = StatusOf(a->address()), b0 = StatusOf(b->address());
    HttpResult cloud = client.Post("/v1/functions/ocr/invoke?tier=cloud", raw, "text/plain");
    ASSERT_EQ(cloud.status, 200) << cloud.body;
    EXPECT_EQ(cloud.body, edge.body);
    EXPECT_EQ(cloud.Header("x-stoa-chains"), "1-3=cloud");
    const v1::GetStatusResponse a1 = StatusOf(a->address()), b1 = StatusOf(b->address());
    EXPECT_EQ(a1.invoke_calls() - a0.invoke_calls() + b1.invoke_calls() - b0.invoke_calls(), 1u);
    EXPECT_EQ(a1.chained_calls() - a0.chained_calls() + b1.chained_calls() - b0.chained_calls(),
              1u);
    // All three stages ran on the one member that took the call.
    const uint64_t on_a = a1.invocations() - a0.invocations();
    const uint64_t on_b = b1.invocations() - b0.invocations();
    EXPECT_TRUE((on_a == 3 && on_b == 0) || (on_a == 0 && on_b == 3)) << on_a << " " << on_b;
  }
}

TEST_F(PipelineChainTest, StagesPinnedToTheCloudChainOnlyWhereTheyAreConsecutive) {
  ASSERT_EQ(
      Pipeline(
          R"({"name":"tail","runtime":"pipeline","stages":[)"
          R"({"function":"digits-pixels","tier":"edge"},)"
          R"({"function":"digits","tier":"cloud"},{"function":"digits-post","tier":"cloud"}]})"),
      201);
  const std::string raw = Images(1)[0];
  HttpResult r = client_->Post("/v1/functions/ocr/invoke?tier=edge", raw, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string expected = r.body;
  for (int i = 0; i < 3; ++i) {
    const v1::GetStatusResponse before = ExecutorStatus();
    r = client_->Post("/v1/functions/tail/invoke", raw, "text/plain");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, expected);
    EXPECT_EQ(r.Header("x-stoa-chains"), "2-3=cloud");
    EXPECT_EQ(ExecutorStatus().invoke_calls() - before.invoke_calls(), 1u);
    EXPECT_THAT(r.Header("x-stoa-stage-timings"), StartsWith("digits-pixels=edge:"));
  }
}

TEST_F(PipelineChainTest, AnErrorInAChainedStageNamesThatStage) {
  // digits-post takes FP32 [N,10]; the 256 bytes of digits-pixels are not that.
  ASSERT_EQ(Pipeline(R"({"name":"bad","runtime":"pipeline","stages":[)"
                     R"({"function":"digits-pixels"},{"function":"digits-post"}]})"),
            201);
  const v1::GetStatusResponse before = ExecutorStatus();
  HttpResult r = client_->Post("/v1/functions/bad/invoke?tier=cloud", Images(1)[0], "text/plain");
  EXPECT_NE(r.status, 200);
  const std::string message = json::parse(r.body)["error"]["message"];
  EXPECT_THAT(message, StartsWith("stage 2 (digits-post): "));
  EXPECT_THAT(message, HasSubstr("FP32 [N,10]"));
  EXPECT_EQ(ExecutorStatus().chained_calls() - before.chained_calls(), 1u);
  // A stage-1 error in a chain is named as stage 1.
  r = client_->Post("/v1/functions/ocr/invoke?tier=cloud", "hello", "text/plain");
  EXPECT_THAT(json::parse(r.body)["error"]["message"].get<std::string>(),
              StartsWith("stage 1 (digits-pixels): "));
  // Serving goes on.
  r = client_->Post("/v1/functions/ocr/invoke?tier=cloud", Images(1)[0], "text/plain");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(PipelineChainTest, AStageTheExecutorLostIsLoadedOnDemand) {
  const std::string raw = Images(1)[0];
  HttpResult r = client_->Post("/v1/functions/ocr/invoke?tier=cloud", raw, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-stoa-cold-start"), "true");  // all three were loaded first
  const std::string expected = r.body;
  // The executor drops the last stage behind the gateway's back.
  grpc::ClientContext ctx;
  v1::UnloadFunctionRequest unload;
  unload.set_function("digits-post");
  v1::UnloadFunctionResponse unloaded;
  ASSERT_TRUE(stub_->UnloadFunction(&ctx, unload, &unloaded).ok());
  ASSERT_TRUE(unloaded.unloaded());
  r = client_->Post("/v1/functions/ocr/invoke?tier=cloud", raw, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(r.Header("x-stoa-chains"), "1-3=cloud");
  bool loaded = false;
  const v1::GetStatusResponse status = ExecutorStatus();
  for (const auto& f : status.functions()) loaded |= f.function() == "digits-post";
  EXPECT_TRUE(loaded);
}

TEST_F(PipelineChainTest, ASplitFunctionWorksAsAStageWithTheUnsplitOutputs) {
  Multipart reg =
      MakeRegistration(R"({"name":"digits-split","runtime":"onnx","split":true})", DigitsModel());
  HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_FALSE(json::parse(r.body)["split_cuts"].empty()) << r.body;
  ASSERT_EQ(Pipeline(R"({"name":"ocr-split","runtime":"pipeline","stages":[)"
                     R"({"function":"digits-pixels"},{"function":"digits-split"},)"
                     R"({"function":"digits-post"}]})"),
            201);
  for (const std::string& raw : Images(10)) {
    HttpResult whole = client_->Post("/v1/functions/ocr/invoke?tier=edge", raw, "text/plain");
    ASSERT_EQ(whole.status, 200) << whole.body;
    r = client_->Post("/v1/functions/ocr-split/invoke", raw, "text/plain");
    ASSERT_EQ(r.status, 200) << r.body;
    const json a = json::parse(whole.body)["digits"][0];
    const json b = json::parse(r.body)["digits"][0];
    EXPECT_EQ(a["digit"], b["digit"]);
    EXPECT_NEAR(a["confidence"].get<double>(), b["confidence"].get<double>(), 1e-5);
  }
  // The stage went through split inference's planner.
  EXPECT_THAT(client_->Get("/metrics").body, HasSubstr(R"(stoa_split_decisions_total{cut=)"));
}

TEST_F(PipelineChainTest, KserveModelInferServesPipelinesOfTensors) {
  ASSERT_EQ(
      Pipeline(R"({"name":"model-only","runtime":"pipeline","stages":[{"function":"digits"}]})"),
      201);
  auto kserve = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(grpc_address_, grpc::InsecureChannelCredentials()));
  auto infer = [&](const std::string& model, inference::ModelInferResponse& out) {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    auto* in = request.add_inputs();
    in->set_name("pixels");
    in->set_datatype("FP32");
    in->add_shape(1);
    in->add_shape(64);
    std::string raw(64 * sizeof(float), '\0');
    for (int i = 0; i < 64; ++i) {
      const float v = static_cast<float>(i % 17);
      std::memcpy(raw.data() + i * sizeof(float), &v, sizeof(float));
    }
    request.add_raw_input_contents(raw);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return kserve->ModelInfer(&ctx, request, &out);
  };
  inference::ModelInferResponse direct, piped;
  grpc::Status s = infer("digits", direct);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = infer("model-only", piped);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(piped.raw_output_contents_size(), 1);
  EXPECT_EQ(piped.raw_output_contents(0), direct.raw_output_contents(0));
  EXPECT_EQ(piped.outputs(0).name(), "probabilities");
  // A pipeline that answers bytes is refused by name.
  inference::ModelInferResponse none;
  s = infer("ocr", none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("does not take and answer tensors"));
}

}  // namespace
}  // namespace stoa::testing
