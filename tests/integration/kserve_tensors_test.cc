// Issue 12, items 3 and 4, end to end through the real binaries (gateway +
// stoa-executor over gRPC): every datatype through KServe JSON and the
// binary data extension on both infer routes, bad tensors refused with 400
// while the gateway keeps serving, and the KServe v2 gRPC inference service
// (ModelInfer with raw_input_contents and typed contents) called with a
// C++ stub, bearer tokens in the authorization metadata.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace ::stoa::functions::testing;  // NOLINT(build/namespaces)

constexpr char kAdminToken[] = "stoa_kserve_admin_2b7e";
constexpr char kOtherTenantToken[] = "stoa_kserve_globex_9c1d";

// f FP32 [-1,2] -> relu -> fy; i INT64 [3], b BOOL [2], d FP64 [2],
// n INT32 [2] -> identity -> iy, by, dy, ny.
std::string TypesModel() {
  ::onnx::ModelProto m = MakeModel(
      {MakeNode("Relu", "relu", {"f"}, {"fy"}), MakeNode("Identity", "i_id", {"i"}, {"iy"}),
       MakeNode("Identity", "b_id", {"b"}, {"by"}), MakeNode("Identity", "d_id", {"d"}, {"dy"}),
       MakeNode("Identity", "n_id", {"n"}, {"ny"})},
      {ValueInfo("f", {-1, 2}), ValueInfo("i", {3}, ::onnx::TensorProto::INT64),
       ValueInfo("b", {2}, ::onnx::TensorProto::BOOL),
       ValueInfo("d", {2}, ::onnx::TensorProto::DOUBLE),
       ValueInfo("n", {2}, ::onnx::TensorProto::INT32)},
      {ValueInfo("fy", {-1, 2}), ValueInfo("iy", {3}, ::onnx::TensorProto::INT64),
       ValueInfo("by", {2}, ::onnx::TensorProto::BOOL),
       ValueInfo("dy", {2}, ::onnx::TensorProto::DOUBLE),
       ValueInfo("ny", {2}, ::onnx::TensorProto::INT32)});
  return m.SerializeAsString();
}

json JsonInputs() {
  return json::array({
      {{"name", "f"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {-1.5, 2.25}}},
      {{"name", "i"}, {"shape", {3}}, {"datatype", "INT64"}, {"data", {-7, 9000000000LL, 3}}},
      {{"name", "b"}, {"shape", {2}}, {"datatype", "BOOL"}, {"data", {true, false}}},
      {{"name", "d"}, {"shape", {2}}, {"datatype", "FP64"}, {"data", {0.1, -1e300}}},
      {{"name", "n"}, {"shape", {2}}, {"datatype", "INT32"}, {"data", {-2147483648LL, 5}}},
  });
}

template <typename T>
std::string Bytes(std::vector<T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

template <typename T>
std::vector<T> Values(const std::string& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// Whether this build's gateway has the gRPC inference service's flag.
bool GatewayHasGrpcListen() {
  FILE* p = popen((BinaryPath("stoa-gateway") + " --help 2>&1").c_str(), "r");
  if (p == nullptr) return false;
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  pclose(p);
  return out.find("--grpc-listen") != std::string::npos;
}

class KserveTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    executor_ = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
    ASSERT_NE(executor_, nullptr);
    const std::string dir = MakeTempDir("kserve");
    const std::string auth = dir + "/auth.yaml";
    std::ofstream(auth) << "tokens:\n  - {name: admin, sha256: " << common::Sha256Hex(kAdminToken)
                        << ", role: admin}\n  - {name: globex, sha256: "
                        << common::Sha256Hex(kOtherTenantToken)
                        << ", role: invoker, tenant: globex}\n";
    std::vector<std::string> args = {"--listen", "127.0.0.1:0",        "--data-dir",  dir + "/data",
                                     "--cloud",  executor_->address(), "--auth-file", auth};
    grpc_enabled_ = GatewayHasGrpcListen();
    if (grpc_enabled_) {
      grpc_address_ = "127.0.0.1:" + std::to_string(FreePort());
      args.insert(args.end(), {"--grpc-listen", grpc_address_});
    }
    gateway_ = Process::Start(BinaryPath("stoa-gateway"), args);
    ASSERT_NE(gateway_, nullptr);
    HttpClientOptions options;
    options.headers = {{"Authorization", std::string("Bearer ") + kAdminToken}};
    client_ = std::make_unique<HttpClient>(gateway_->address(), options);
    Multipart reg = MakeRegistration(R"({"name":"types","runtime":"onnx"})", TypesModel());
    HttpResult r = client_->Post("/v1/functions", reg.body, reg.content_type);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  void ExpectTypesOutputs(const json& outputs) {
    ASSERT_EQ(outputs.size(), 5u) << outputs.dump();
    EXPECT_EQ(outputs[0]["datatype"], "FP32");
    EXPECT_EQ(outputs[0]["data"], json({0.0, 2.25}));
    EXPECT_EQ(outputs[1]["datatype"], "INT64");
    EXPECT_EQ(outputs[1]["data"], json({-7, 9000000000LL, 3}));
    EXPECT_EQ(outputs[2]["datatype"], "BOOL");
    EXPECT_EQ(outputs[2]["data"], json({true, false}));
    EXPECT_EQ(outputs[3]["datatype"], "FP64");
    EXPECT_EQ(outputs[3]["data"], json({0.1, -1e300}));
    EXPECT_EQ(outputs[4]["datatype"], "INT32");
    EXPECT_EQ(outputs[4]["data"], json({-2147483648LL, 5}));
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  bool grpc_enabled_ = false;
  std::string grpc_address_;
};

TEST_F(KserveTensorsTest, EveryDatatypeThroughJsonOnBothRoutes) {
  for (const std::string route : {"/v2/models/types/infer", "/v1/functions/types/invoke"}) {
    SCOPED_TRACE(route);
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client_->Post(route + "?tier=" + tier,
                                   json{{"id", "j1"}, {"inputs", JsonInputs()}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.Header("x-stoa-tier"), tier);
      json body = json::parse(r.body);
      EXPECT_EQ(body["id"], "j1");
      ExpectTypesOutputs(body["outputs"]);
    }
  }
}

TEST_F(KserveTensorsTest, BinaryRequestAndBinaryResponse) {
  // f as FP16 (widened to FP32 by the engine), the rest raw; every output binary but iy.
  const std::vector<std::string> raw = {Bytes<uint16_t>({0xbe00, 0x4080}),  // -1.5, 2.25
                                        Bytes<int64_t>({-7, 9000000000LL, 3}),
                                        std::string("\1\0", 2), Bytes<double>({0.1, -1e300}),
                                        Bytes<int32_t>({INT32_MIN, 5})};
  json inputs = JsonInputs();
  inputs[0]["datatype"] = "FP16";
  for (size_t k = 0; k < inputs.size(); ++k) {
    inputs[k].erase("data");
    inputs[k]["parameters"] = {{"binary_data_size", raw[k].size()}};
  }
  const std::string header =
      json{{"inputs", inputs},
           {"outputs", json::array({{{"name", "fy"}},
                                    {{"name", "iy"}, {"parameters", {{"binary_data", false}}}},
                                    {{"name", "dy"}}})},
           {"parameters", {{"binary_data_output", true}}}}
          .dump();
  std::string body = header;
  for (const std::string& r : raw) body += r;
  for (const std::string route : {"/v2/models/types/infer", "/v1/functions/types/invoke"}) {
    SCOPED_TRACE(route);
    HttpResult r =
        client_->Send("POST", route, body, "application/octet-stream",
                      {{"Inference-Header-Content-Length", std::to_string(header.size())}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/octet-stream");
    const size_t json_bytes = std::stoul(r.Header("inference-header-content-length"));
    ASSERT_LE(json_bytes, r.body.size());
    json out = json::parse(r.body.substr(0, json_bytes));
    ASSERT_EQ(out["outputs"].size(), 3u) << out.dump();
    EXPECT_EQ(out["outputs"][0]["parameters"]["binary_data_size"], 8);
    EXPECT_EQ(out["outputs"][1]["data"], json({-7, 9000000000LL, 3}));  // asked as JSON
    EXPECT_EQ(out["outputs"][2]["parameters"]["binary_data_size"], 16);
    const std::string tail = r.body.substr(json_bytes);
    ASSERT_EQ(tail.size(), 24u);
    EXPECT_EQ(Values<float>(tail.substr(0, 8)), std::vector<float>({0.0f, 2.25f}));
    EXPECT_EQ(Values<double>(tail.substr(8)), std::vector<double>({0.1, -1e300}));
  }
}

TEST_F(KserveTensorsTest, BadTensorsAreRefusedAndTheGatewayKeepsServing) {
  auto infer = [&](const std::string& body,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    return client_->Send("POST", "/v2/models/types/infer", body, "application/json", headers);
  };
  json bytes_input = JsonInputs();
  bytes_input[1] = {{"name", "i"}, {"shape", {1}}, {"datatype", "BYTES"}, {"data", {"abc"}}};
  HttpResult r = infer(json{{"inputs", bytes_input}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("inputs[1] 'i': datatype BYTES is not supported"));

  const std::string header =
      R"({"inputs":[{"name":"f","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  r = infer(header + "12345678", {{"Inference-Header-Content-Length", "9999"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("Inference-Header-Content-Length is 9999 bytes"));
  r = infer(header + "1234", {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("only 4 bytes of binary data are left"));
  r = infer(header + "123456789",
            {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("the binary data is 9 bytes"));
  r = infer(header + "12345678", {{"Inference-Header-Content-Length", "-1"}});
  EXPECT_EQ(r.status, 400);
  json wrong_type = JsonInputs();
  wrong_type[4]["datatype"] = "INT64";
  r = infer(json{{"inputs", wrong_type}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body,
              HasSubstr("inputs[4] 'n': datatype INT64 does not match the signature's INT32"));

  r = infer(json{{"inputs", JsonInputs()}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  ExpectTypesOutputs(json::parse(r.body)["outputs"]);
}

class KserveGrpcTest : public KserveTensorsTest {
 protected:
  void SetUp() override {
    KserveTensorsTest::SetUp();
    if (HasFatalFailure()) return;
    if (!grpc_enabled_) GTEST_SKIP() << "stoa-gateway has no --grpc-listen in this build";
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(grpc_address_, grpc::InsecureChannelCredentials()));
  }

  grpc::Status Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse& response, const std::string& token) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->ModelInfer(&context, request, &response);
  }

  static inference::ModelInferRequest RawRequest() {
    inference::ModelInferRequest request;
    request.set_model_name("types");
    request.set_id("g1");
    struct In {
      const char* name;
      const char* type;
      std::vector<int64_t> shape;
      std::string raw;
    };
    const std::vector<In> ins = {{"f", "FP32", {1, 2}, Bytes<float>({-1.5f, 2.25f})},
                                 {"i", "INT64", {3}, Bytes<int64_t>({-7, 9000000000LL, 3})},
                                 {"b", "BOOL", {2}, std::string("\1\0", 2)},
                                 {"d", "FP64", {2}, Bytes<double>({0.1, -1e300})},
                                 {"n", "INT32", {2}, Bytes<int32_t>({INT32_MIN, 5})}};
    for (const In& in : ins) {
      auto* t = request.add_inputs();
      t->set_name(in.name);
      t->set_datatype(in.type);
      for (int64_t d : in.shape) t->add_shape(d);
      request.add_raw_input_contents(in.raw);
    }
    return request;
  }

  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(KserveGrpcTest, ModelInferWithRawInputContents) {
  {
    grpc::ClientContext context;
    inference::ServerLiveResponse live;
    ASSERT_TRUE(stub_->ServerLive(&context, {}, &live).ok());
    EXPECT_TRUE(live.live());
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
    inference::ModelMetadataRequest request;
    request.set_name("types");
    inference::ModelMetadataResponse metadata;
    grpc::Status s = stub_->ModelMetadata(&context, request, &metadata);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(metadata.inputs_size(), 5);
    EXPECT_EQ(metadata.inputs(1).datatype(), "INT64");
    EXPECT_EQ(metadata.outputs(2).datatype(), "BOOL");
    EXPECT_EQ(metadata.inputs(0).shape(0), -1);
  }
  inference::ModelInferResponse response;
  grpc::Status s = Infer(RawRequest(), response, kAdminToken);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.id(), "g1");
  ASSERT_EQ(response.outputs_size(), 5);
  ASSERT_EQ(response.raw_output_contents_size(), 5);
  EXPECT_EQ(response.outputs(0).name(), "fy");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(Values<float>(response.raw_output_contents(0)), std::vector<float>({0.0f, 2.25f}));
  EXPECT_EQ(response.outputs(1).datatype(), "INT64");
  EXPECT_EQ(Values<int64_t>(response.raw_output_contents(1)),
            std::vector<int64_t>({-7, 9000000000LL, 3}));
  EXPECT_EQ(response.raw_output_contents(2), std::string("\1\0", 2));
  EXPECT_EQ(Values<double>(response.raw_output_contents(3)), std::vector<double>({0.1, -1e300}));
  EXPECT_EQ(Values<int32_t>(response.raw_output_contents(4)), std::vector<int32_t>({INT32_MIN, 5}));
}

TEST_F(KserveGrpcTest, TypedContentsAndRequestedOutputs) {
  inference::ModelInferRequest request = RawRequest();
  request.clear_raw_input_contents();
  auto* c = request.mutable_inputs();
  for (float v : {-1.5f, 2.25f}) (*c)[0].mutable_contents()->add_fp32_contents(v);
  for (int64_t v : {-7LL, 9000000000LL, 3LL}) (*c)[1].mutable_contents()->add_int64_contents(v);
  for (bool v : {true, false}) (*c)[2].mutable_contents()->add_bool_contents(v);
  for (double v : {0.1, -1e300}) (*c)[3].mutable_contents()->add_fp64_contents(v);
  for (int32_t v : {INT32_MIN, 5}) (*c)[4].mutable_contents()->add_int_contents(v);
  request.add_outputs()->set_name("iy");
  inference::ModelInferResponse response;
  grpc::Status s = Infer(request, response, kAdminToken);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "iy");
  EXPECT_EQ(Values<int64_t>(response.raw_output_contents(0)),
            std::vector<int64_t>({-7, 9000000000LL, 3}));
}

TEST_F(KserveGrpcTest, RefusalsUseTheRestRules) {
  inference::ModelInferResponse response;
  grpc::Status s = Infer(RawRequest(), response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  s = Infer(RawRequest(), response, "not-a-token");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  s = Infer(RawRequest(), response, kOtherTenantToken);  // another tenant's function
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  inference::ModelInferRequest short_raw = RawRequest();
  short_raw.mutable_raw_input_contents(1)->resize(20);
  s = Infer(short_raw, response, kAdminToken);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs[1] 'i': has 20 bytes of data, shape [3] of "
                                           "INT64 needs 24"));
  inference::ModelInferRequest bytes = RawRequest();
  bytes.mutable_inputs(2)->set_datatype("BYTES");
  s = Infer(bytes, response, kAdminToken);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs[2] 'b': datatype BYTES is not supported"));
  s = Infer(RawRequest(), response, kAdminToken);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace stoa::testing
