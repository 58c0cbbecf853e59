// FunctionLifecycle with everything real beneath it (registry on disk, the
// ONNX and Wasm runtimes validating artifacts, the dispatcher and an
// in-process executor), driven through the REST codec as clients drive it.
#include "gateway/function_lifecycle.h"

#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "executors/in_process_executor.h"
#include "gateway/dispatcher.h"
#include "gateway/rest_api.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/placement_scheduler.h"

namespace stoa::gateway {
namespace {

using common::HttpRequest;
using common::HttpResponse;
using common::ParseTarget;
using nlohmann::json;
using ::testing::HasSubstr;

std::string SourceDir() {
  const char* dir = std::getenv("STOA_SOURCE_DIR");
  return dir ? dir : ".";
}

std::string ReadOrDie(const std::string& path) {
  auto bytes = common::ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

struct Multipart {
  std::string content_type;
  std::string body;
};

Multipart MakeRegistration(const std::string& spec, const std::string& artifact) {
  const std::string b = "stoa-unit-boundary";
  Multipart m;
  m.content_type = "multipart/form-data; boundary=" + b;
  m.body = "--" + b + "\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n" + spec +
           "\r\n--" + b +
           "\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"m.onnx\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n" +
           artifact + "\r\n--" + b + "--\r\n";
  return m;
}

std::string Pixels(int n, const std::string& datatype = "FP32") {
  json data = json::array();
  for (int i = 0; i < n; ++i) data.push_back(i % 17);
  return json{
      {"inputs", {{{"name", "pixels"}, {"shape", {1, n}}, {"datatype", datatype}, {"data", data}}}}}
      .dump();
}

class FunctionLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = std::filesystem::temp_directory_path() /
                ("stoa_rest_api_test_" + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_dir_);
    auto registry = FunctionRegistry::Open(data_dir_.string());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    runtimes_ = functions::DefaultRuntimes();
    scheduler_ =
        std::make_unique<scheduler::PlacementScheduler>(common::RealClock::Get(), &metrics_, 1);
    std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors;
    executors::InProcessExecutor::Options edge_options;
    edge_options.threads = 1;
    executors[0] =
        std::make_unique<executors::InProcessExecutor>(runtimes_, edge_options, &metrics_);
    dispatcher_ =
        std::make_unique<Dispatcher>(std::move(executors), *scheduler_, common::RealClock::Get(),
                                     metrics_, Dispatcher::Options{});
    lifecycle_ =
        std::make_unique<FunctionLifecycle>(*registry_, runtimes_, *dispatcher_, *scheduler_);
    ASSERT_TRUE(lifecycle_->Restore("").ok());
    api_ = std::make_unique<RestApi>(*lifecycle_, *dispatcher_, *scheduler_, metrics_,
                                     RestApi::Options{});
    model_ = ReadOrDie(SourceDir() + "/functions/examples/digits/digits.onnx");
    ASSERT_FALSE(model_.empty());
  }

  void TearDown() override {
    api_.reset();
    dispatcher_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::string& content_type = "application/json") {
    HttpRequest request;
    request.method = method;
    request.target = target;
    EXPECT_TRUE(ParseTarget(target, &request).ok());
    request.headers.emplace("content-type", content_type);
    request.body = body;
    std::promise<HttpResponse> promise;
    auto future = promise.get_future();
    api_->Handle(std::move(request), [&promise](HttpResponse r) { promise.set_value(r); });
    return future.get();
  }

  HttpResponse RegisterDigits(const std::string& spec = R"({"name":"digits","runtime":"onnx"})") {
    Multipart m = MakeRegistration(spec, model_);
    return Call("POST", "/v1/functions", m.body, m.content_type);
  }

  // Checks status, JSON error body, and returns the message.
  std::string ExpectError(const HttpResponse& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    json body = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << r.body;
    if (body.is_discarded()) return "";
    EXPECT_TRUE(body["error"]["code"].is_string()) << r.body;
    return body["error"]["message"].is_string() ? body["error"]["message"].get<std::string>() : "";
  }

  static std::string Header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  std::filesystem::path data_dir_;
  common::metrics::Registry metrics_;
  std::unique_ptr<FunctionRegistry> registry_;
  functions::RuntimeSet runtimes_;
  std::unique_ptr<scheduler::PlacementScheduler> scheduler_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<FunctionLifecycle> lifecycle_;
  std::unique_ptr<RestApi> api_;
  std::string model_;
};

TEST_F(FunctionLifecycleTest, RegisterInvokeDescribeDelete) {
  HttpResponse r = RegisterDigits(
      R"({"name":"digits","runtime":"onnx","tiers":["edge"],"slo_ms":20,
          "limits":{"timeout_ms":5000},"description":"MLP"})");
  ASSERT_EQ(r.status, 201) << r.body;
  json stored = json::parse(r.body);
  EXPECT_EQ(stored["name"], "digits");
  EXPECT_EQ(stored["version"], 1);
  EXPECT_EQ(stored["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(stored["tiers"], json::array({"edge"}));
  EXPECT_EQ(stored["limits"]["timeout_ms"], 5000);
  ASSERT_EQ(stored["inputs"].size(), 1u);
  EXPECT_EQ(stored["inputs"][0]["name"], "pixels");
  EXPECT_EQ(stored["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(stored["outputs"][0]["name"], "probabilities");

  std::string sample = ReadOrDie(SourceDir() + "/functions/examples/digits/sample_request.json");
  r = Call("POST", "/v1/functions/digits/invoke", sample);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Tier"), "edge");
  EXPECT_EQ(Header(r, "X-Stoa-Cold-Start"), "true");
  EXPECT_FALSE(Header(r, "X-Stoa-Predicted-Ms").empty());
  EXPECT_FALSE(Header(r, "X-Stoa-Latency-Ms").empty());
  EXPECT_FALSE(Header(r, "X-Stoa-Reason").empty());
  json out = json::parse(r.body);
  EXPECT_EQ(out["model_name"], "digits");
  EXPECT_EQ(out["model_version"], "1");
  ASSERT_EQ(out["outputs"].size(), 1u);
  EXPECT_EQ(out["outputs"][0]["shape"], json::array({1, 10}));
  double sum = 0;
  for (const auto& p : out["outputs"][0]["data"]) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);

  // The KServe alias, warm this time.
  r = Call("POST", "/v2/models/digits/infer", sample);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Cold-Start"), "false");

  r = Call("GET", "/v1/functions/digits");
  ASSERT_EQ(r.status, 200);
  json described = json::parse(r.body);
  EXPECT_EQ(described["stats"]["edge"]["invocations"], 2);
  EXPECT_EQ(described["stats"]["edge"]["cold_starts"], 1);
  EXPECT_EQ(described["stats"]["edge"]["loaded"], true);
  EXPECT_EQ(described["stats"]["cloud"]["configured"], false);

  r = Call("GET", "/v2/models/digits");
  ASSERT_EQ(r.status, 200);
  json meta = json::parse(r.body);
  EXPECT_EQ(meta["platform"], "onnx");
  EXPECT_EQ(meta["versions"], json::array({"1"}));
  EXPECT_EQ(meta["inputs"][0]["shape"][1], 64);

  r = Call("GET", "/v1/functions");
  EXPECT_EQ(json::parse(r.body)["functions"].size(), 1u);

  r = Call("DELETE", "/v1/functions/digits");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Call("GET", "/v1/functions/digits").status, 404);
  EXPECT_EQ(json::parse(Call("GET", "/v1/functions").body)["functions"].size(), 0u);
}

TEST_F(FunctionLifecycleTest, DeleteChecksItsPreconditionUnderTheSameLock) {
  ASSERT_EQ(RegisterDigits().status, 201);
  int calls = 0;
  absl::Status refused = lifecycle_->Delete("digits", [&calls](const v1::FunctionSpec& spec) {
    ++calls;
    EXPECT_EQ(spec.name(), "digits");
    return absl::PermissionDeniedError("not yours");
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(lifecycle_->Get("digits").ok());  // nothing changed
  EXPECT_EQ(lifecycle_->Delete("missing", [](const v1::FunctionSpec&) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(lifecycle_->Delete("digits", nullptr).ok());
  EXPECT_FALSE(lifecycle_->Get("digits").ok());
}

TEST_F(FunctionLifecycleTest, JsonRegistrationAndPutReplace) {
  json body = {
      {"name", "d2"}, {"runtime", "onnx"}, {"artifact_base64", absl::Base64Escape(model_)}};
  HttpResponse r = Call("POST", "/v1/functions", body.dump());
  ASSERT_EQ(r.status, 201) << r.body;

  body["description"] = "second";
  r = Call("PUT", "/v1/functions/d2", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["version"], 2);
  EXPECT_EQ(json::parse(r.body)["description"], "second");

  body["name"] = "d3";
  r = Call("PUT", "/v1/functions/d3", body.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/functions/other", body.dump()), 400),
              HasSubstr("does not match the path's 'other'"));
}

TEST_F(FunctionLifecycleTest, BadInputGetsItsStatusAndChangesNothing) {
  ASSERT_EQ(RegisterDigits().status, 201);
  const std::string functions_before = Call("GET", "/v1/functions").body;
  const std::string policy_before = Call("GET", "/v1/policy").body;

  // Malformed JSON.
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke", "{\"inputs\": [1,"), 400),
              HasSubstr("malformed JSON at byte"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", "{not json"), 400), HasSubstr("JSON"));
  // Missing or wrong fields.
  auto reg = [&](const std::string& spec) {
    Multipart m = MakeRegistration(spec, model_);
    return Call("POST", "/v1/functions", m.body, m.content_type);
  };
  EXPECT_THAT(ExpectError(reg(R"({"name":"x"})"), 400), HasSubstr("runtime"));
  EXPECT_THAT(ExpectError(reg(R"({"runtime":"onnx"})"), 400), HasSubstr("'name'"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","tiers":["moon"]})"), 400),
              HasSubstr("tiers"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","tiers":[]})"), 400),
              HasSubstr("tiers"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","slo_ms":"fast"})"), 400),
              HasSubstr("slo_ms"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","slo_ms":-1})"), 400),
              HasSubstr("slo_ms"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","colour":"red"})"), 400),
              HasSubstr("'colour'"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","batching":{"max_batch":0}})"), 400),
              HasSubstr("batching.max_batch"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","limits":{"cpu":1}})"), 400),
              HasSubstr("'limits.cpu'"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"onnx","sha256":"00"})"), 400),
              HasSubstr("'sha256' is derived"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"Bad Name!","runtime":"onnx"})"), 400),
              HasSubstr("function name"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"w","runtime":"wasm"})"), 400),
              HasSubstr("artifact is not a WebAssembly module"));
  EXPECT_THAT(ExpectError(reg(R"({"name":"x","runtime":"python"})"), 400),
              HasSubstr("onnx, wasm or pipeline"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke", R"({"outputs":[]})"), 400),
              HasSubstr("inputs"));
  Multipart no_artifact = MakeRegistration(R"({"name":"x","runtime":"onnx"})", model_);
  no_artifact.body.replace(no_artifact.body.find("name=\"artifact\""), 15, "name=\"blob\"    ");
  EXPECT_THAT(
      ExpectError(Call("POST", "/v1/functions", no_artifact.body, no_artifact.content_type), 400),
      HasSubstr("no 'artifact' part"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", "x", "multipart/form-data"), 400),
              HasSubstr("boundary"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", R"({"name":"x","runtime":"onnx"})"), 400),
              HasSubstr("artifact_base64"));
  // Unknown function.
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/nope/invoke", Pixels(64)), 404),
              HasSubstr("nope"));
  EXPECT_THAT(ExpectError(Call("GET", "/v1/functions/nope"), 404), HasSubstr("nope"));
  EXPECT_THAT(ExpectError(Call("DELETE", "/v1/functions/nope"), 404), HasSubstr("nope"));
  EXPECT_THAT(ExpectError(Call("GET", "/v2/models/nope"), 404), HasSubstr("nope"));
  // A long name is not echoed whole.
  HttpResponse long_name = Call("GET", "/v1/functions/" + std::string(10000, 'a'));
  EXPECT_THAT(ExpectError(long_name, 404), HasSubstr("... (10000 bytes)"));
  EXPECT_LT(long_name.body.size(), 300u);
  // Tensor shape or datatype mismatch.
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke", Pixels(63)), 400),
              HasSubstr("'pixels'"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke", Pixels(64, "INT64")), 400),
              HasSubstr("datatype INT64"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke?tier=moon", Pixels(64)), 400),
              HasSubstr("'tier'"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/digits/invoke?tier=cloud", Pixels(64)), 503),
              HasSubstr("tier cloud is not configured"));
  // Corrupt and truncated .onnx.
  Multipart truncated = MakeRegistration(R"({"name":"broken","runtime":"onnx"})",
                                         model_.substr(0, model_.size() / 2));
  EXPECT_THAT(
      ExpectError(Call("POST", "/v1/functions", truncated.body, truncated.content_type), 400),
      HasSubstr("artifact rejected"));
  Multipart garbage = MakeRegistration(R"({"name":"broken","runtime":"onnx"})",
                                       std::string("\x08\x07garbage\xff\xfe", 11));
  EXPECT_EQ(Call("POST", "/v1/functions", garbage.body, garbage.content_type).status, 400);
  // Duplicate registration.
  EXPECT_THAT(ExpectError(RegisterDigits(), 409), HasSubstr("already exists"));
  // Unknown policy name, out-of-range field.
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/policy", R"({"policy":"fastest"})"), 400),
              HasSubstr("fastest"));
  EXPECT_THAT(
      ExpectError(Call("PUT", "/v1/policy", R"({"policy":"predictive","explore_budget":7})"), 400),
      HasSubstr("explore_budget"));
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/policy", "{"), 400), HasSubstr("JSON"));
  // Wrong content type.
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", "name=digits", "text/plain"), 415),
              HasSubstr("text/plain"));
  // Unknown route, wrong method.
  EXPECT_THAT(ExpectError(Call("GET", "/v1/nothing-here"), 404), HasSubstr("/v1/nothing-here"));
  HttpResponse r = Call("PATCH", "/v1/functions/digits");
  EXPECT_THAT(ExpectError(r, 405), HasSubstr("PATCH"));
  EXPECT_EQ(Header(r, "Allow"), "GET, PUT, DELETE");

  EXPECT_EQ(Call("GET", "/v1/functions").body, functions_before);
  EXPECT_EQ(Call("GET", "/v1/policy").body, policy_before);
  EXPECT_FALSE(registry_->LoadPolicy().has_value());
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

// The wasm examples land next to bin/ (functions/examples/wasm in the build dir).
std::string WasmExample(const std::string& name) {
  const char* bin = std::getenv("STOA_BIN_DIR");
  if (bin == nullptr) return "";
  auto bytes = common::ReadFile(std::string(bin) + "/../functions/examples/wasm/" + name + ".wasm");
  return bytes.ok() ? *bytes : "";
}

TEST_F(FunctionLifecycleTest, WasmFunctionRawInRawOutWithSpecContentType) {
  const std::string anomaly = WasmExample("anomaly");
  if (anomaly.empty()) GTEST_SKIP() << "wasm examples not built";
  auto reg = [&](const std::string& name, const std::string& extra, const std::string& wasm) {
    json spec = json::parse(R"({"runtime":"wasm"})");
    spec["name"] = name;
    if (!extra.empty()) spec.update(json::parse(extra));
    spec["artifact_base64"] = absl::Base64Escape(wasm);
    return Call("POST", "/v1/functions", spec.dump());
  };
  HttpResponse r = reg("anomaly", R"({"content_type":"application/json"})", anomaly);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["content_type"], "application/json");
  EXPECT_EQ(json::parse(r.body)["runtime"], "wasm");

  r = Call("POST", "/v1/functions/anomaly/invoke?tier=edge", R"({"values":[1,1.1,0.9,1,9]})",
           "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Header(r, "X-Stoa-Tier"), "edge");
  EXPECT_FALSE(Header(r, "X-Stoa-Latency-Ms").empty());
  EXPECT_EQ(json::parse(r.body)["anomalies"][0]["index"], 4);

  // A function error is a 500 carrying stderr; default content type.
  ASSERT_EQ(reg("fail", "", WasmExample("fail")).status, 201);
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/fail/invoke", ""), 500),
              HasSubstr("exited with status 3; stderr: sensor offline"));
  ASSERT_EQ(reg("stateful", "", WasmExample("stateful")).status, 201);
  r = Call("POST", "/v1/functions/stateful/invoke", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");

  // An endless loop is stopped at limits.timeout_ms: 504.
  ASSERT_EQ(reg("loop", R"({"limits":{"timeout_ms":100}})", WasmExample("loop")).status, 201);
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/loop/invoke", ""), 504),
              HasSubstr("deadline"));

  // Invalid modules and content types are 400s naming the problem; nothing is stored.
  EXPECT_THAT(ExpectError(reg("bad", "", WasmExample("forbidden_import")), 400),
              HasSubstr("import 'env.open_socket' is not allowed"));
  EXPECT_THAT(ExpectError(reg("bad", R"({"content_type":"json"})", anomaly), 400),
              HasSubstr("content_type"));
  EXPECT_EQ(Call("GET", "/v1/functions/bad").status, 404);
  EXPECT_EQ(json::parse(Call("GET", "/v1/functions").body)["functions"].size(), 4u);
}

TEST_F(FunctionLifecycleTest, PolicyIsValidatedPersistedAndApplied) {
  HttpResponse r = Call("PUT", "/v1/policy", R"({"policy":"edge_only"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["policy"], "edge_only");
  EXPECT_EQ(scheduler_->GetPolicy().policy, scheduler::PolicyKind::kEdgeOnly);
  ASSERT_TRUE(registry_->LoadPolicy().has_value());
  EXPECT_EQ(json::parse(*registry_->LoadPolicy())["policy"], "edge_only");
  EXPECT_EQ(json::parse(Call("GET", "/v1/policy").body)["policy"], "edge_only");
  EXPECT_EQ(Call("GET", "/v1/scheduler/state").status, 200);
  EXPECT_EQ(ExpectError(Call("GET", "/v1/functions/x/policy"), 404).empty(), false);
}

TEST_F(FunctionLifecycleTest, FunctionPolicyOverrideIsValidatedPersistedAppliedAndRemoved) {
  ASSERT_EQ(RegisterDigits().status, 201);
  HttpResponse r = Call("GET", "/v1/functions/digits/policy");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Policy-Source"), "global");
  EXPECT_EQ(json::parse(r.body)["policy"], "predictive");
  ASSERT_EQ(Call("POST", "/v1/functions/digits/invoke", Pixels(64)).status, 200);
  r = Call("POST", "/v1/functions/digits/invoke", Pixels(64));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "X-Stoa-Reason"), "predicted-best");

  // This gateway has no cloud: under cloud_only the next request of digits
  // can only go to the edge, as a failover; the global policy is untouched.
  r = Call("PUT", "/v1/functions/digits/policy", R"({"policy":"cloud_only"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["policy"], "cloud_only");
  r = Call("POST", "/v1/functions/digits/invoke", Pixels(64));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Reason"), "failover");
  EXPECT_EQ(scheduler_->GetPolicy().policy, scheduler::PolicyKind::kPredictive);
  r = Call("GET", "/v1/functions/digits/policy");
  EXPECT_EQ(Header(r, "X-Stoa-Policy-Source"), "function");
  EXPECT_EQ(json::parse(r.body)["policy"], "cloud_only");
  EXPECT_EQ(json::parse(Call("GET", "/v1/scheduler/state")
                            .body)["functions"]["digits"]["policy_override"]["policy"],
            "cloud_only");

  // Invalid documents are 400s naming the field; nothing changes.
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/functions/digits/policy", R"({"shadow_rate":3})"), 400),
              HasSubstr("shadow_rate"));
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/functions/digits/policy", R"({"hedge":"yes"})"), 400),
              HasSubstr("hedge"));
  EXPECT_EQ(json::parse(Call("GET", "/v1/functions/digits/policy").body)["policy"], "cloud_only");
  EXPECT_EQ(json::parse(*registry_->LoadFunctionPolicy("digits"))["policy"], "cloud_only");
  EXPECT_EQ(ExpectError(Call("PUT", "/v1/functions/nope/policy", R"({})"), 404).empty(), false);

  // Persisted: a gateway restarted on the same data directory applies it.
  {
    scheduler::PlacementScheduler fresh(common::RealClock::Get(), nullptr, 2);
    FunctionLifecycle restarted(*registry_, runtimes_, *dispatcher_, fresh);
    ASSERT_TRUE(restarted.Restore("").ok());
    ASSERT_TRUE(fresh.GetFunctionPolicy("digits").has_value());
    EXPECT_EQ(fresh.GetFunctionPolicy("digits")->policy, scheduler::PolicyKind::kCloudOnly);
  }

  r = Call("DELETE", "/v1/functions/digits/policy");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_FALSE(registry_->LoadFunctionPolicy("digits").has_value());
  EXPECT_EQ(Header(Call("GET", "/v1/functions/digits/policy"), "X-Stoa-Policy-Source"), "global");
  r = Call("POST", "/v1/functions/digits/invoke", Pixels(64));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Header(r, "X-Stoa-Reason"), "predicted-best");
  EXPECT_EQ(Call("DELETE", "/v1/functions/digits/policy").status, 204);  // idempotent

  // Deleting the function drops its override.
  ASSERT_EQ(Call("PUT", "/v1/functions/digits/policy", R"({"policy":"edge_only"})").status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/functions/digits").status, 204);
  EXPECT_FALSE(scheduler_->GetFunctionPolicy("digits").has_value());
}

TEST_F(FunctionLifecycleTest, HealthReadinessAndMetrics) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  HttpResponse r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["tiers"]["edge"], "in-process");
  EXPECT_TRUE(json::parse(r.body)["tiers"]["cloud"].is_null());
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);

  ASSERT_EQ(RegisterDigits().status, 201);
  ASSERT_EQ(Call("POST", "/v1/functions/digits/invoke", Pixels(64)).status, 200);
  r = Call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(
      r.body,
      HasSubstr(R"(stoa_http_requests_total{code="200",route="/v1/functions/{name}/invoke"} 1)"));
  EXPECT_THAT(r.body, HasSubstr(R"(stoa_http_requests_total{code="201",route="/v1/functions"} 1)"));
  EXPECT_THAT(r.body, HasSubstr("stoa_cold_starts_total"));
  EXPECT_THAT(r.body, HasSubstr("stoa_invocation_duration_seconds_bucket"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("route=\"/v1/functions/digits")));
}

// The series of an exposition (sample lines without their values).
std::set<std::string> Series(const std::string& exposition) {
  std::set<std::string> series;
  for (absl::string_view line : absl::StrSplit(exposition, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    series.emplace(line.substr(0, line.rfind(' ')));
  }
  return series;
}

TEST_F(FunctionLifecycleTest, DeletedFunctionsLeaveNoMetricSeries) {
  // Register, invoke, replace, invoke again, delete: every per-function
  // family of the gateway, the scheduler and the edge executor is touched.
  auto cycle = [&](const std::string& name, bool delete_it) {
    json body = {
        {"name", name}, {"runtime", "onnx"}, {"artifact_base64", absl::Base64Escape(model_)}};
    ASSERT_EQ(Call("POST", "/v1/functions", body.dump()).status, 201);
    const std::string invoke = "/v1/functions/" + name + "/invoke";
    ASSERT_EQ(Call("POST", invoke, Pixels(64)).status, 200);
    body["description"] = "replaced";
    ASSERT_EQ(Call("PUT", "/v1/functions/" + name, body.dump()).status, 200);
    ASSERT_EQ(Call("POST", invoke, Pixels(64)).status, 200);
    if (delete_it) {
      ASSERT_EQ(Call("DELETE", "/v1/functions/" + name).status, 204);
    }
  };
  // A first cycle and a scrape create the series that do not name a
  // function (routes and codes of stoa_http_requests_total).
  cycle("warm-up", true);
  Call("GET", "/metrics");
  const std::set<std::string> before = Series(Call("GET", "/metrics").body);

  cycle("digits", false);
  const std::string live = Call("GET", "/metrics").body;
  for (const char* family :
       {"stoa_invocations_total{", "stoa_invocation_duration_seconds_count{",
        "stoa_cold_starts_total{", "stoa_placements_total{", "stoa_predicted_latency_seconds{",
        "stoa_prediction_error_seconds_count{", "stoa_placement_accuracy_ratio{",
        "stoa_placement_regret_seconds_total{", "stoa_executor_invocations_total{",
        "stoa_executor_exec_seconds_count{", "stoa_executor_queue_seconds_count{",
        "stoa_executor_loads_total{", "stoa_executor_load_seconds_count{"}) {
    EXPECT_THAT(live, HasSubstr(std::string(family) + "function=\"digits\"")) << family;
  }
  ASSERT_EQ(Call("DELETE", "/v1/functions/digits").status, 204);
  EXPECT_EQ(Series(Call("GET", "/metrics").body), before);
}

TEST_F(FunctionLifecycleTest, HttpRequestSeriesAreBoundedByRouteTemplates) {
  for (int i = 0; i < 50; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(Call("GET", "/no/such/path/" + n).status, 404);
    EXPECT_EQ(Call("POST", "/v1/functions/ghost" + n + "/invoke", Pixels(64)).status, 404);
    EXPECT_EQ(Call("PATCH", "/v1/functions/ghost" + n).status, 405);
  }
  const std::string text = Call("GET", "/metrics").body;
  EXPECT_THAT(text, ::testing::Not(HasSubstr("ghost")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("/no/such")));
  EXPECT_THAT(text, HasSubstr(R"(stoa_http_requests_total{code="404",route="unmatched"} 50)"));
  EXPECT_THAT(
      text,
      HasSubstr(R"(stoa_http_requests_total{code="404",route="/v1/functions/{name}/invoke"} 50)"));
  EXPECT_THAT(text,
              HasSubstr(R"(stoa_http_requests_total{code="405",route="/v1/functions/{name}"} 50)"));
}

TEST_F(FunctionLifecycleTest, RestoreAppliesTheSavedPoliciesFirst) {
  const std::string yaml = (data_dir_ / "policy.yaml").string();
  ASSERT_TRUE(common::WriteFileAtomically(yaml, "policy: cloud_only\n").ok());
  // Nothing saved yet: the file applies.
  ASSERT_TRUE(lifecycle_->Restore(yaml).ok());
  EXPECT_EQ(scheduler_->GetPolicy().policy, scheduler::PolicyKind::kCloudOnly);
  // A policy set over the API is saved and wins over the file at the next
  // start, and so does a function's own override.
  ASSERT_EQ(Call("PUT", "/v1/policy", R"({"policy":"edge_only"})").status, 200);
  ASSERT_EQ(RegisterDigits().status, 201);
  ASSERT_EQ(Call("PUT", "/v1/functions/digits/policy", R"({"policy":"round_robin"})").status, 200);
  scheduler::PlacementScheduler fresh(common::RealClock::Get(), nullptr, 1);
  FunctionLifecycle restarted(*registry_, runtimes_, *dispatcher_, fresh);
  ASSERT_TRUE(restarted.Restore(yaml).ok());
  EXPECT_EQ(fresh.GetPolicy().policy, scheduler::PolicyKind::kEdgeOnly);
  ASSERT_TRUE(fresh.GetFunctionPolicy("digits").has_value());
  EXPECT_EQ(fresh.GetFunctionPolicy("digits")->policy, scheduler::PolicyKind::kRoundRobin);
}

TEST_F(FunctionLifecycleTest, RestoreRefusesABadPolicyFile) {
  const std::string yaml = (data_dir_ / "bad.yaml").string();
  ASSERT_TRUE(common::WriteFileAtomically(yaml, "policy: fastest\n").ok());
  absl::Status s = lifecycle_->Restore(yaml);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad.yaml"));
  EXPECT_FALSE(lifecycle_->Restore((data_dir_ / "missing.yaml").string()).ok());
}

}  // namespace
}  // namespace stoa::gateway
