// Issue 10, request limits, against the real stoa-gateway and stoa-executor:
// JSON nesting, timeout_ms, output size, artifact size, description length
// and HTTP framing laxness. Each case asserts the documented status and a
// message naming the limit, that both processes keep serving (healthz and
// the digits example on both tiers), and bounds on the time of the answer
// and on the processes' peak memory (VmHWM from /proc/<pid>/status).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/fakes/functions/onnx_builders.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace onnx_builders = ::stoa::functions::testing;

constexpr double kMaxAnswerSeconds = 5.0;
// Registering a Wasm module compiles it (wasm2c + cc), and so does the cloud
// executor's first invocation (its cold start): seconds, more when loaded.
constexpr double kMaxCompileSeconds = 180.0;
constexpr int64_t kMiBInKiB = 1024;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sends `request` on a fresh connection and returns what the server answers
// before closing (or within 5 s).
std::string RawExchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

class RequestLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Platform platform =
        StartPlatform("limits", {"--max-description-bytes", "64", "--max-artifact-mb", "1"},
                      {"--max-artifact-mb", "1"});
    executor_ = std::move(platform.executor);
    gateway_ = std::move(platform.gateway);
    client_ = std::move(platform.client);
    ASSERT_NE(client_, nullptr);
    ASSERT_EQ(RegisterDigits(*client_), 201);
    ExpectServing();
    for (const Process* p : {gateway_.get(), executor_.get()}) {
      hwm_before_kib_.push_back(ProcStatusKiB(p->pid(), "VmHWM"));
    }
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    ExpectServing();
  }

  // Both processes up; healthz 200 and the digits example answers on both tiers.
  void ExpectServing() {
    EXPECT_TRUE(gateway_->Running());
    EXPECT_TRUE(executor_->Running());
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    const std::string sample =
        ReadFileOrDie(SourcePath("functions/examples/digits/sample_request.json"));
    for (const std::string tier : {"edge", "cloud"}) {
      HttpResult r = client_->Post("/v1/functions/digits/invoke?tier=" + tier, sample);
      EXPECT_EQ(r.status, 200) << tier << ": " << r.body;
    }
  }

  // The peak resident memory of gateway (0) and executor (1) grew by less
  // than max_mib since SetUp; prints it for the before/after table.
  void ExpectPeakGrowthBelow(int64_t max_mib, const std::string& what) {
    const Process* processes[] = {gateway_.get(), executor_.get()};
    for (size_t i = 0; i < 2; ++i) {
      const int64_t growth = ProcStatusKiB(processes[i]->pid(), "VmHWM") - hwm_before_kib_[i];
      std::printf("[measure] %s: %s VmHWM grew %lld MiB\n", what.c_str(),
                  i == 0 ? "gateway" : "executor", static_cast<long long>(growth / kMiBInKiB));
      EXPECT_LT(growth, max_mib * kMiBInKiB) << what << (i == 0 ? ": gateway" : ": executor");
    }
  }

  HttpResult Timed(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& content_type, double max_seconds = kMaxAnswerSeconds) {
    const auto start = std::chrono::steady_clock::now();
    HttpResult r = client_->Request(method, target, body, content_type, 200000);
    const double seconds = SecondsSince(start);
    std::printf("[measure] %s %s: %d in %.2f s\n", method.c_str(), target.c_str(), r.status,
                seconds);
    EXPECT_LT(seconds, max_seconds) << method << " " << target;
    return r;
  }

  HttpResult Register(const std::string& spec, const std::string& artifact,
                      double max_seconds = kMaxAnswerSeconds) {
    Multipart reg = MakeRegistration(spec, artifact);
    return Timed("POST", "/v1/functions", reg.body, reg.content_type, max_seconds);
  }

  std::unique_ptr<v1::Executor::Stub> ExecutorStub() {
    return v1::Executor::NewStub(
        grpc::CreateChannel(executor_->address(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<Process> executor_;
  std::unique_ptr<Process> gateway_;
  std::unique_ptr<HttpClient> client_;
  std::vector<int64_t> hwm_before_kib_;
};

// 16 MB of '[' three times at once cost ~1 GB and 2-5 s each on an HTTP
// thread, and stalled /healthz: now one pass refuses each at byte 64.
TEST_F(RequestLimitsTest, DeepJsonIsRefusedInOnePass) {
  const std::string bomb(16 * 1024 * 1024 - 4096, '[');
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  std::vector<std::string> messages(3);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client(gateway_->address());
      const auto start = std::chrono::steady_clock::now();
      HttpResult r = client.Post("/v1/functions/digits/invoke", bomb);
      const double seconds = SecondsSince(start);
      std::printf("[measure] 16 MB of '[' #%d: %d in %.2f s\n", i, r.status, seconds);
      EXPECT_LT(seconds, kMaxAnswerSeconds);
      messages[i] = ErrorMessage(r, 400, "INVALID_ARGUMENT");
      done.fetch_add(1);
    });
  }
  double worst_healthz = 0;
  while (done.load() < 3) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    worst_healthz = std::max(worst_healthz, SecondsSince(start));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : threads) t.join();
  std::printf("[measure] /healthz meanwhile: worst %.0f ms\n", worst_healthz * 1000);
  EXPECT_LT(worst_healthz, 1.0);
  for (const std::string& m : messages) {
    EXPECT_EQ(m,
              "the request body nests deeper than 64 levels at byte 64; the limit is 64 levels "
              "(JSON depth limit)");
  }
  // The bodies themselves (3 x 16 MB) are held while they are read.
  ExpectPeakGrowthBelow(100, "16 MB of '[' x3");

  // The spec and the policy documents pass the same pre-scan.
  const std::string deep_spec = R"({"name":"d","runtime":"onnx","x":)" + std::string(100, '[');
  EXPECT_THAT(ErrorMessage(Register(deep_spec, "x"), 400, "INVALID_ARGUMENT"),
              HasSubstr("spec nests deeper than 64 levels at byte"));
  EXPECT_THAT(ErrorMessage(Timed("PUT", "/v1/policy", std::string(1000, '['), "application/json"),
                           400, "INVALID_ARGUMENT"),
              HasSubstr("(JSON depth limit)"));
}

// timeout_ms over the operator's maximum (60 s by default): refused at
// registration (REST) and by the executor's LoadFunction and Invoke (gRPC).
TEST_F(RequestLimitsTest, TimeoutOverTheMaximumIsRefusedOnRestAndGrpc) {
  EXPECT_EQ(
      ErrorMessage(Register(R"({"name":"slow","runtime":"onnx","limits":{"timeout_ms":3600000}})",
                            ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"))),
                   400, "INVALID_ARGUMENT"),
      "spec field 'limits.timeout_ms' is 3600000 ms; the limit is 60000 ms (maximum timeout_ms)");
  EXPECT_EQ(client_->Get("/v1/functions/slow").status, 404);

  const std::string model = ReadFileOrDie(SourcePath("functions/examples/digits/digits.onnx"));
  auto stub = ExecutorStub();
  v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name("slow");
  load.mutable_spec()->set_runtime("onnx");
  load.mutable_spec()->mutable_limits()->set_timeout_ms(3'600'000);
  load.set_artifact(model);
  v1::LoadFunctionResponse loaded;
  grpc::ClientContext load_context;
  load_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status s = stub->LoadFunction(&load_context, load, &loaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "spec field 'limits.timeout_ms' is 3600000 ms; the limit is 60000 ms (maximum "
            "timeout_ms)");

  v1::InvokeRequest invoke;
  invoke.set_function("digits");
  invoke.set_timeout_ms(4'294'967'295u);
  v1::InvokeResponse answer;
  grpc::ClientContext invoke_context;
  invoke_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  s = stub->Invoke(&invoke_context, invoke, &answer);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "InvokeRequest.timeout_ms is 4294967295 ms; the limit is 60000 ms (maximum "
            "timeout_ms)");
  ExpectPeakGrowthBelow(50, "timeout_ms over the maximum");
}

// A Wasm function writing 100 MB got 200 with 64 MiB on the edge and 429
// "Sent message larger than max" on the cloud: now the same 507 on both.
TEST_F(RequestLimitsTest, WasmOutputOverTheLimitIsTheSameErrorOnBothTiers) {
  if (WasmExample("big_output").empty()) GTEST_SKIP() << "wasm examples not built";
  ASSERT_EQ(Register(R"({"name":"big-output","runtime":"wasm","limits":{"timeout_ms":30000}})",
                     WasmExample("big_output"), kMaxCompileSeconds)
                .status,
            201);
  // The gateway names the tier first ("tier edge (in-process): ",
  // "tier cloud (grpc:…): "); what follows is the executor's, word for word.
  const std::string expected =
      "): function 'big-output' output is more than 16777216 bytes; the limit is 16777216 "
      "bytes (output size limit)";
  for (const std::string tier : {"edge", "cloud"}) {
    HttpResult r = Timed("POST", "/v1/functions/big-output/invoke?tier=" + tier, "100",
                         "text/plain", kMaxCompileSeconds);
    const std::string message = ErrorMessage(r, 507, "RESOURCE_EXHAUSTED");
    EXPECT_EQ(message.substr(0, 5 + tier.size()), "tier " + tier) << message;
    EXPECT_EQ(message.substr(message.find("): ")), expected) << message;
  }
  // A small output still works.
  EXPECT_EQ(Timed("POST", "/v1/functions/big-output/invoke?tier=cloud", "1", "text/plain").status,
            200);
  ExpectPeakGrowthBelow(300, "wasm writing 100 MB");
}

// A 130-byte request to ConstantOfShape made a 100 MB response: the tensor
// bytes and their JSON text are both held to the output size limit.
TEST_F(RequestLimitsTest, OnnxOutputOverTheLimitIsTheSameErrorOnBothTiers) {
  using onnx_builders::MakeModel;
  using onnx_builders::MakeNode;
  using onnx_builders::ValueInfo;
  // Inputs are FP32: the count is cast to INT64 for ConstantOfShape.
  ::onnx::NodeProto cast = MakeNode("Cast", "cast", {"n"}, {"shape"});
  onnx_builders::SetIntAttr(cast, "to", ::onnx::TensorProto::INT64);
  ::onnx::NodeProto fill = MakeNode("ConstantOfShape", "fill", {"shape"}, {"y"});
  auto* value = fill.add_attribute();
  value->set_name("value");
  value->set_type(::onnx::AttributeProto::TENSOR);
  *value->mutable_t() = onnx_builders::FloatInit("value", {1}, {0.123456789f});
  const std::string model =
      MakeModel({cast, fill}, {ValueInfo("n", {1})}, {ValueInfo("y", {-1})}).SerializeAsString();
  HttpResult registered = Register(R"({"name":"fill","runtime":"onnx"})", model);
  ASSERT_EQ(registered.status, 201) << registered.body;
  auto request = [](int64_t n) {
    return R"({"inputs":[{"name":"n","shape":[1],"datatype":"FP32","data":[)" + std::to_string(n) +
           "]}]}";
  };
  for (const std::string tier : {"edge", "cloud"}) {
    // 5,000,000 floats: 20 MB of tensor bytes.
    EXPECT_THAT(ErrorMessage(Timed("POST", "/v1/functions/fill/invoke?tier=" + tier,
                                   request(5'000'000), "application/json"),
                             507, "RESOURCE_EXHAUSTED"),
                ::testing::EndsWith("): function 'fill' output is 20000000 bytes; the limit is "
                                    "16777216 bytes (output size limit)"));
    // 2,000,000 floats: 8 MB of bytes, but 22 MB as JSON text.
    EXPECT_EQ(ErrorMessage(Timed("POST", "/v1/functions/fill/invoke?tier=" + tier,
                                 request(2'000'000), "application/json"),
                           507, "RESOURCE_EXHAUSTED"),
              "function 'fill' output as JSON is more than 16777216 bytes; the limit is 16777216 "
              "bytes (output size limit)");
    EXPECT_EQ(
        Timed("POST", "/v1/functions/fill/invoke?tier=" + tier, request(10), "application/json")
            .status,
        200);
  }
  ExpectPeakGrowthBelow(300, "ConstantOfShape 20 MB output");
}

// The registration limits the operator lowered: description length and
// artifact size (apart from the body limit), on REST and on gRPC.
TEST_F(RequestLimitsTest, RegistrationLimitsFollowTheFlags) {
  EXPECT_EQ(ErrorMessage(Register(R"({"name":"d","runtime":"onnx","description":")" +
                                      std::string(65, 'd') + R"("})",
                                  "x"),
                         400, "INVALID_ARGUMENT"),
            "spec field 'description' is 65 bytes; the limit is 64 bytes (description length "
            "limit)");
  const std::string big(1024 * 1024 + 1, 'a');
  EXPECT_EQ(ErrorMessage(Register(R"({"name":"big","runtime":"onnx"})", big), 413, "OUT_OF_RANGE"),
            "the artifact is 1048577 bytes; the limit is 1048576 bytes (artifact size limit)");
  EXPECT_EQ(client_->Get("/v1/functions/big").status, 404);

  auto stub = ExecutorStub();
  v1::LoadFunctionRequest load;
  load.mutable_spec()->set_name("big");
  load.mutable_spec()->set_runtime("onnx");
  load.set_artifact(big);
  v1::LoadFunctionResponse loaded;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status s = stub->LoadFunction(&context, load, &loaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(),
            "the artifact is 1048577 bytes; the limit is 1048576 bytes (artifact size limit)");
  ExpectPeakGrowthBelow(50, "registration limits");
}

// Transfer-Encoding other than one "chunked" is 501 (the bytes were passed
// on undecoded); an obs-fold header line is 400. Framing defences hold.
TEST_F(RequestLimitsTest, HttpFramingLaxnessIsRefused) {
  const int port = gateway_->port();
  const auto start = std::chrono::steady_clock::now();
  std::string r = RawExchange(port,
                              "POST /v1/functions/digits/invoke HTTP/1.1\r\nHost: x\r\n"
                              "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("HTTP/1.1 501"));
  EXPECT_THAT(r, HasSubstr("Transfer-Encoding 'gzip, chunked' is not supported"));
  r = RawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(r, HasSubstr("is folded (obs-fold"));
  // Both Content-Length and chunked: refused as before (request smuggling).
  r = RawExchange(port,
                  "POST /v1/functions/digits/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("HTTP/1.1 400"));
  // TE (the codings a client accepts in a response) is not a framing header.
  r = RawExchange(port,
                  "GET /healthz HTTP/1.1\r\nHost: x\r\nTE: gzip, chunked\r\n"
                  "Connection: close\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("HTTP/1.1 200"));
  // A chunked body is decoded.
  r = RawExchange(port,
                  "PUT /v1/policy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  "Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("HTTP/1.1 200"));
  EXPECT_LT(SecondsSince(start), kMaxAnswerSeconds * 2);
  ExpectPeakGrowthBelow(20, "HTTP laxness");
}

}  // namespace
}  // namespace stoa::testing
