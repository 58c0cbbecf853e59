// Every bad request of the walking-skeleton issue, against the real
// stoa-gateway: the documented status, a message naming the problem,
// nothing stored changes, and the next request is served.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_ = Process::Start(
        BinaryPath("stoa-gateway"),
        {"--listen", "127.0.0.1:0", "--data-dir", MakeTempDir("bad"), "--body-limit-mb", "1"});
    ASSERT_NE(gateway_, nullptr);
    client_ = std::make_unique<HttpClient>(gateway_->address());
    model_ = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
    Multipart reg = MakeRegistration(R"({"name":"digits","runtime":"onnx"})", model_);
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    ASSERT_EQ(r.status, 201) << r.body;
    functions_before_ = client_->Get("/v1/functions").body;
    policy_before_ = client_->Get("/v1/policy").body;
  }

  // The error body is {"error":{"code","message"}}; returns the message.
  std::string ExpectError(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    json body = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << "error body is not JSON: " << r.body;
    if (body.is_discarded()) return "";
    EXPECT_TRUE(body["error"]["code"].is_string()) << r.body;
    return body["error"]["message"].get<std::string>();
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    // Nothing stored changed, and the server still serves.
    EXPECT_EQ(client_->Get("/v1/functions").body, functions_before_);
    EXPECT_EQ(client_->Get("/v1/policy").body, policy_before_);
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    EXPECT_TRUE(gateway_->Running());
  }

  std::string One(int pixels, const std::string& datatype = "FP32") {
    json data = json::array();
    for (int i = 0; i < pixels; ++i) data.push_back(1.0);
    json body;
    body["inputs"] = json::array(
        {{{"name", "pixels"}, {"shape", {1, pixels}}, {"datatype", datatype}, {"data", data}}});
    return body.dump();
  }

  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::string model_, functions_before_, policy_before_;
};

TEST_F(BadInputTest, MalformedJson) {
  std::string m =
      ExpectError(client_->Post("/v1/functions/digits/invoke", "{\"inputs\": [1,"), 400);
  EXPECT_THAT(m, HasSubstr("JSON"));
  m = ExpectError(client_->Post("/v1/functions", "{not json", "application/json"), 400);
  EXPECT_THAT(m, HasSubstr("JSON"));
}

TEST_F(BadInputTest, MissingOrWrongSpecField) {
  Multipart no_runtime = MakeRegistration(R"({"name":"x"})", model_);
  EXPECT_THAT(
      ExpectError(client_->Post("/v1/functions", no_runtime.body, no_runtime.content_type), 400),
      HasSubstr("runtime"));
  Multipart bad_tiers =
      MakeRegistration(R"({"name":"x","runtime":"onnx","tiers":["moon"]})", model_);
  EXPECT_THAT(
      ExpectError(client_->Post("/v1/functions", bad_tiers.body, bad_tiers.content_type), 400),
      HasSubstr("tiers"));
  Multipart bad_slo = MakeRegistration(R"({"name":"x","runtime":"onnx","slo_ms":"fast"})", model_);
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions", bad_slo.body, bad_slo.content_type), 400),
              HasSubstr("slo_ms"));
  Multipart unknown = MakeRegistration(R"({"name":"x","runtime":"onnx","colour":"red"})", model_);
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions", unknown.body, unknown.content_type), 400),
              HasSubstr("colour"));
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions/digits/invoke", R"({"outputs":[]})"), 400),
              HasSubstr("inputs"));
}

TEST_F(BadInputTest, UnknownFunction) {
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions/nope/invoke", One(64)), 404),
              HasSubstr("nope"));
  EXPECT_THAT(ExpectError(client_->Get("/v1/functions/nope"), 404), HasSubstr("nope"));
  EXPECT_THAT(ExpectError(client_->Delete("/v1/functions/nope"), 404), HasSubstr("nope"));
}

TEST_F(BadInputTest, TensorShapeOrDatatypeMismatch) {
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions/digits/invoke?tier=edge", One(63)), 400),
              HasSubstr("pixels"));
  EXPECT_THAT(
      ExpectError(client_->Post("/v1/functions/digits/invoke?tier=edge", One(64, "INT64")), 400),
      HasSubstr("pixels"));
  // The shape claims more elements than the data holds.
  json body = json::parse(One(64));
  body["inputs"][0]["shape"] = {2, 64};
  EXPECT_EQ(client_->Post("/v1/functions/digits/invoke", body.dump()).status, 400);
}

TEST_F(BadInputTest, BodyOverTheSizeLimit) {
  std::string big(2 * 1024 * 1024, 'x');
  HttpResult r = client_->Post("/v1/functions/digits/invoke", big);
  EXPECT_EQ(r.status, 413) << r.body;
}

TEST_F(BadInputTest, CorruptOrTruncatedOnnx) {
  Multipart truncated = MakeRegistration(R"({"name":"broken","runtime":"onnx"})",
                                         model_.substr(0, model_.size() / 2));
  EXPECT_THAT(
      ExpectError(client_->Post("/v1/functions", truncated.body, truncated.content_type), 400),
      HasSubstr("ONNX"));
  Multipart garbage = MakeRegistration(R"({"name":"broken","runtime":"onnx"})",
                                       std::string("\x08\x07garbage\xff\xfe", 11));
  EXPECT_EQ(client_->Post("/v1/functions", garbage.body, garbage.content_type).status, 400);
  EXPECT_EQ(client_->Get("/v1/functions/broken").status, 404);
}

TEST_F(BadInputTest, DuplicateRegistration) {
  Multipart again = MakeRegistration(R"({"name":"digits","runtime":"onnx"})", model_);
  EXPECT_THAT(ExpectError(client_->Post("/v1/functions", again.body, again.content_type), 409),
              HasSubstr("digits"));
}

TEST_F(BadInputTest, UnknownPolicyNameAndBadFields) {
  EXPECT_THAT(ExpectError(client_->Put("/v1/policy", R"({"policy":"fastest"})"), 400),
              HasSubstr("fastest"));
  EXPECT_THAT(
      ExpectError(client_->Put("/v1/policy", R"({"policy":"predictive","explore_budget":7})"), 400),
      HasSubstr("explore_budget"));
}

TEST_F(BadInputTest, WrongContentType) {
  EXPECT_EQ(client_->Post("/v1/functions", "name=digits", "text/plain").status, 415);
}

TEST_F(BadInputTest, UnknownRoute) { EXPECT_EQ(client_->Get("/v1/nothing-here").status, 404); }

}  // namespace
}  // namespace stoa::testing
