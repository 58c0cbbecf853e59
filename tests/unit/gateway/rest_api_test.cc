// RestApi as an HTTP codec over fakes: routing, parsing, rendering and the
// mapping of every error to its status. The real lifecycle beneath it is
// function_lifecycle_test.cc's.
#include "gateway/rest_api.h"

#include <future>

#include "absl/strings/escaping.h"
#include "gateway/spec_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/gateway/fake_control_plane.h"
#include "tests/fakes/gateway/fake_invoker.h"
#include "tests/fakes/scheduler/fake_scheduler.h"

namespace stoa::gateway {
namespace {

using common::HttpRequest;
using common::HttpResponse;
using common::ParseTarget;
using nlohmann::json;
using scheduler::Tier;
using ::testing::HasSubstr;

v1::TensorSignature Signature(const std::string& name, v1::DataType type,
                              std::vector<int64_t> shape) {
  v1::TensorSignature s;
  s.set_name(name);
  s.set_datatype(type);
  for (int64_t d : shape) s.add_shape(d);
  return s;
}

std::string Multipart(const std::string& spec, const std::string& artifact) {
  return "--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n" + spec +
         "\r\n--b\r\nContent-Disposition: form-data; name=\"artifact\"\r\n\r\n" + artifact +
         "\r\n--b--\r\n";
}
constexpr char kMultipartType[] = "multipart/form-data; boundary=b";

std::string TwoFloats(const std::string& name = "x") {
  return json{
      {"inputs", {{{"name", name}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1.5, 2.5}}}}}}
      .dump();
}

class RestApiTest : public ::testing::Test {
 protected:
  RestApiTest() : api_(control_, invoker_, scheduler_, metrics_, RestApi::Options{}) {
    control_.SetSignature({Signature("x", v1::FP32, {-1, 2})});
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
    api_.Handle(std::move(request), [&promise](HttpResponse r) { promise.set_value(r); });
    return future.get();
  }

  HttpResponse Register(const std::string& spec) {
    return Call("POST", "/v1/functions", Multipart(spec, "model-bytes"), kMultipartType);
  }

  // Checks the status and the JSON error body; returns the message.
  static std::string ExpectError(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    json body = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << r.body;
    if (body.is_discarded()) return "";
    EXPECT_EQ(body["error"]["code"], code) << r.body;
    return body["error"]["message"].is_string() ? body["error"]["message"].get<std::string>() : "";
  }

  static std::string Header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  FakeControlPlane control_;
  FakeInvoker invoker_;
  scheduler::FakeScheduler scheduler_;
  common::metrics::Registry metrics_;
  RestApi api_;
};

TEST_F(RestApiTest, UnknownRoutesAndMethods) {
  EXPECT_THAT(ExpectError(Call("GET", "/v1/nothing-here"), 404, "NOT_FOUND"),
              HasSubstr("/v1/nothing-here"));
  HttpResponse r = Call("PATCH", "/v1/functions/f");
  EXPECT_THAT(ExpectError(r, 405, "METHOD_NOT_ALLOWED"), HasSubstr("PATCH"));
  EXPECT_EQ(Header(r, "Allow"), "GET, PUT, DELETE");
  const std::string exposition = metrics_.Serialize();
  EXPECT_THAT(exposition,
              HasSubstr(R"(stoa_http_requests_total{code="405",route="/v1/functions/{name}"} 1)"));
  EXPECT_THAT(exposition, HasSubstr(R"(stoa_http_requests_total{code="404",route="unmatched"} 1)"));
}

TEST_F(RestApiTest, RegistrationIsParsedAndHandedToTheControlPlane) {
  HttpResponse r = Register(R"({"name":"f","runtime":"onnx","tiers":["edge"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Header(r, "Location"), "/v1/functions/f");
  EXPECT_EQ(control_.last_artifact(), "model-bytes");
  json stored = json::parse(r.body);
  EXPECT_EQ(stored["version"], 1);
  EXPECT_EQ(stored["tiers"], json::array({"edge"}));
  EXPECT_EQ(stored["inputs"][0]["name"], "x");

  // JSON with base64, PUT replaces (200) and must match the path.
  json body = {{"name", "f"}, {"runtime", "onnx"}, {"artifact_base64", absl::Base64Escape("v2")}};
  r = Call("PUT", "/v1/functions/f", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["version"], 2);
  EXPECT_EQ(control_.last_artifact(), "v2");
  EXPECT_THAT(ExpectError(Call("PUT", "/v1/functions/g", body.dump()), 400, "INVALID_ARGUMENT"),
              HasSubstr("does not match the path's 'g'"));
}

TEST_F(RestApiTest, SpecFieldsAreBounded) {
  const std::string long_description = std::string(kMaxDescriptionBytes + 1, 'd');
  EXPECT_THAT(ExpectError(Register(R"({"name":"f","runtime":"onnx","description":")" +
                                   long_description + R"("})"),
                          400, "INVALID_ARGUMENT"),
              HasSubstr("the limit is 4096 bytes (description length limit)"));
  // A second 'spec' part is refused, not silently ignored.
  const std::string second_spec =
      "--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{}\r\n--b--\r\n";
  std::string body = Multipart(R"({"name":"f","runtime":"onnx"})", "x");
  body.replace(body.rfind("--b--\r\n"), std::string::npos, second_spec);
  EXPECT_THAT(
      ExpectError(Call("POST", "/v1/functions", body, kMultipartType), 400, "INVALID_ARGUMENT"),
      HasSubstr("part 3 repeats the name 'spec' of part 1"));
  EXPECT_EQ(Call("GET", "/v1/functions").body, R"({"functions":[]})");  // nothing stored
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx","description":")" +
                     std::string(kMaxDescriptionBytes, 'd') + R"("})")
                .status,
            201);
}

TEST_F(RestApiTest, RegistrationErrorsKeepTheirMeaning) {
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", "name=f", "text/plain"), 415,
                          "FAILED_PRECONDITION"),
              HasSubstr("text/plain"));
  EXPECT_THAT(ExpectError(Register(R"({"name":"f"})"), 400, "INVALID_ARGUMENT"),
              HasSubstr("runtime"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions", R"({"name":"f","runtime":"onnx"})"), 400,
                          "INVALID_ARGUMENT"),
              HasSubstr("artifact_base64"));
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 201);
  EXPECT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 409);
  control_.SetRegisterError(absl::InvalidArgumentError("artifact rejected: op 'Foo'"));
  EXPECT_THAT(ExpectError(Register(R"({"name":"g","runtime":"onnx"})"), 400, "INVALID_ARGUMENT"),
              HasSubstr("op 'Foo'"));
  EXPECT_EQ(Call("GET", "/v1/functions/g").status, 404);
}

TEST_F(RestApiTest, InvokeParsesTensorsAndRendersPlacement) {
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 201);
  DispatchResult result;
  result.tier = Tier::kCloud;
  result.reason = scheduler::Reason::kPredictedBest;
  result.predicted_ms = 4.5;
  result.latency_ms = 3.25;
  result.cold_start = true;
  invoker_.SetResult(result);
  HttpResponse r = Call("POST", "/v1/functions/f/invoke", TwoFloats());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Tier"), "cloud");
  EXPECT_EQ(Header(r, "X-Stoa-Reason"), "predicted-best");
  EXPECT_EQ(Header(r, "X-Stoa-Predicted-Ms"), "4.500");
  EXPECT_EQ(Header(r, "X-Stoa-Latency-Ms"), "3.250");
  EXPECT_EQ(Header(r, "X-Stoa-Cold-Start"), "true");
  json out = json::parse(r.body);
  EXPECT_EQ(out["model_name"], "f");
  EXPECT_EQ(out["outputs"][0]["data"], json::array({1.5, 2.5}));  // the fake echoes
  auto calls = invoker_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.inputs(0).name(), "x");
  EXPECT_FALSE(calls[0].forced.has_value());

  r = Call("POST", "/v2/models/f/infer?tier=edge", TwoFloats());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Header(r, "X-Stoa-Reason"), "forced");
  EXPECT_EQ(invoker_.calls().back().forced, Tier::kEdge);
}

TEST_F(RestApiTest, InvokeErrorsKeepTheirMeaning) {
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 201);
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/nope/invoke", TwoFloats()), 404, "NOT_FOUND"),
              HasSubstr("nope"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/f/invoke?tier=moon", TwoFloats()), 400,
                          "INVALID_ARGUMENT"),
              HasSubstr("'tier'"));
  EXPECT_THAT(
      ExpectError(Call("POST", "/v1/functions/f/invoke", TwoFloats("y")), 400, "INVALID_ARGUMENT"),
      HasSubstr("'y'"));
  EXPECT_THAT(ExpectError(Call("POST", "/v1/functions/f/invoke", "{\"inputs\": [1,"), 400,
                          "INVALID_ARGUMENT"),
              HasSubstr("JSON"));
  EXPECT_TRUE(invoker_.calls().empty());  // nothing bad reached the invoker
  invoker_.SetError(absl::UnavailableError("no tier available"));
  EXPECT_EQ(Call("POST", "/v1/functions/f/invoke", TwoFloats()).status, 503);
  invoker_.SetError(absl::DeadlineExceededError("too slow"));
  EXPECT_EQ(Call("POST", "/v1/functions/f/invoke", TwoFloats()).status, 504);
  invoker_.SetError(absl::ResourceExhaustedError("busy"));
  EXPECT_EQ(Call("POST", "/v1/functions/f/invoke", TwoFloats()).status, 429);
  invoker_.SetError(absl::UnimplementedError("cannot batch"));
  EXPECT_EQ(Call("POST", "/v1/functions/f/invoke", TwoFloats()).status, 501);
}

// Bytes that are not UTF-8 (a Wasm function's stderr, names from an
// artifact, a URL) reach every writer; each answers valid JSON.
TEST_F(RestApiTest, BytesThatAreNotUtf8StillGiveValidJson) {
  control_.SetSignature({Signature("x\xff", v1::FP32, {-1, 2})});
  HttpResponse r = Register(R"({"name":"f","runtime":"onnx"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["inputs"][0]["name"], "x\xEF\xBF\xBD");  // strict parse
  for (const char* target : {"/v1/functions", "/v1/functions/f", "/v2/models/f"}) {
    r = Call("GET", target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_NO_THROW(json::parse(r.body)) << target;
  }
  ASSERT_EQ(Register(R"({"name":"w","runtime":"wasm"})").status, 201);
  invoker_.SetError(absl::InternalError("function exited with status 2; stderr: \xff\xfe\xc3("));
  r = Call("POST", "/v1/functions/w/invoke", "raw", "text/plain");
  EXPECT_THAT(ExpectError(r, 500, "INTERNAL"), HasSubstr("stderr: \xEF\xBF\xBD"));
  EXPECT_THAT(ExpectError(Call("GET", "/v1/nothing\xff"), 404, "NOT_FOUND"),
              HasSubstr("/v1/nothing"));
}

TEST_F(RestApiTest, WasmBodiesPassRawWithTheSpecContentType) {
  ASSERT_EQ(Register(R"({"name":"w","runtime":"wasm","content_type":"text/csv"})").status, 201);
  HttpResponse r = Call("POST", "/v1/functions/w/invoke", "a,b\n1,2\n", "text/csv");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/csv");
  EXPECT_EQ(r.body, "a,b\n1,2\n");
  EXPECT_EQ(invoker_.calls().back().request.raw(), "a,b\n1,2\n");
}

TEST_F(RestApiTest, DescribeListAndDelete) {
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 201);
  FunctionStats stats{};
  stats[0].configured = true;
  stats[0].invocations = 7;
  invoker_.SetStats(stats);
  json described = json::parse(Call("GET", "/v1/functions/f").body);
  EXPECT_EQ(described["stats"]["edge"]["invocations"], 7);
  EXPECT_EQ(described["stats"]["cloud"]["configured"], false);
  EXPECT_EQ(json::parse(Call("GET", "/v1/functions").body)["functions"].size(), 1u);
  json meta = json::parse(Call("GET", "/v2/models/f").body);
  EXPECT_EQ(meta["versions"], json::array({"1"}));
  HttpResponse r = Call("DELETE", "/v1/functions/f");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Call("DELETE", "/v1/functions/f").status, 404);
}

TEST_F(RestApiTest, PoliciesAreValidatedThenHandedOver) {
  ASSERT_EQ(Register(R"({"name":"f","runtime":"onnx"})").status, 201);
  EXPECT_THAT(
      ExpectError(Call("PUT", "/v1/policy", R"({"policy":"fastest"})"), 400, "INVALID_ARGUMENT"),
      HasSubstr("fastest"));
  EXPECT_EQ(control_.GetPolicy().policy, scheduler::PolicyKind::kPredictive);
  ASSERT_EQ(Call("PUT", "/v1/policy", R"({"policy":"edge_only"})").status, 200);
  EXPECT_EQ(control_.GetPolicy().policy, scheduler::PolicyKind::kEdgeOnly);
  EXPECT_EQ(json::parse(Call("GET", "/v1/policy").body)["policy"], "edge_only");

  HttpResponse r = Call("GET", "/v1/functions/f/policy");
  EXPECT_EQ(Header(r, "X-Stoa-Policy-Source"), "global");
  r = Call("PUT", "/v1/functions/f/policy", R"({"policy":"cloud_only"})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Call("GET", "/v1/functions/f/policy");
  EXPECT_EQ(Header(r, "X-Stoa-Policy-Source"), "function");
  EXPECT_EQ(json::parse(r.body)["policy"], "cloud_only");
  EXPECT_EQ(Call("DELETE", "/v1/functions/f/policy").status, 204);
  EXPECT_EQ(Call("PUT", "/v1/functions/nope/policy", R"({"policy":"cloud_only"})").status, 404);
}

TEST_F(RestApiTest, HeadIsGetWithoutTheBody) {
  EXPECT_EQ(Call("HEAD", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("HEAD", "/healthz").status, 200);
  EXPECT_EQ(Call("HEAD", "/v1/functions/nope").status, 404);
  HttpResponse r = Call("HEAD", "/v1/policy");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Call("HEAD", "/v1/functions/f/invoke").status, 405);  // POST only
}

TEST_F(RestApiTest, HealthReadinessStateAndMetrics) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  HttpResponse r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["tiers"]["edge"], "fake-edge");
  invoker_.SetConfigured({});
  r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(json::parse(r.body)["tiers"]["cloud"].is_null());
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 503);

  r = Call("GET", "/v1/scheduler/state");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body).is_object());
  r = Call("GET", "/metrics");
  EXPECT_THAT(r.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(r.body, HasSubstr("stoa_http_requests_total"));
}

}  // namespace
}  // namespace stoa::gateway
