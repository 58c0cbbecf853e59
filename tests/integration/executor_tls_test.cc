// Mutual TLS between a client (the gateway's GrpcExecutor, or a raw stub)
// and a real stoa-executor, with certificates from
// deploy/tls/make-dev-certs.sh: the certificate the CA signed gets in; no
// certificate, another CA's certificate and plaintext are refused at the
// handshake (UNAVAILABLE) while the good client keeps being served; files
// rotated on disk are picked up without a restart; the secure-default
// refusals at start; LoadFunction refuses what the REST layer refuses, with
// the REST layer's words.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/sha256.h"
#include "executors/grpc_executor.h"
#include "executors/grpc_tls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stoa/v1/executor.grpc.pb.h"
#include "tests/fakes/executors/fake_runtime.h"
#include "tests/integration/harness.h"
#include "tests/integration/tls_harness.h"

namespace stoa::testing {
namespace {

using executors::ChannelTlsFiles;
using executors::ExecutorChannelCredentials;
using executors::GrpcExecutor;
using ::testing::HasSubstr;

template <typename T, typename StartFn>
absl::StatusOr<T> Await(StartFn start) {
  return executors::testing::Await<T>(std::move(start));
}

// Client credentials from the certificate set `certs` (its CA verifies the
// executor; its gateway.crt is presented).
std::shared_ptr<grpc::ChannelCredentials> GatewayCredentials(const DevCerts& certs,
                                                             const DevCerts& trust) {
  auto credentials = ExecutorChannelCredentials(
      ChannelTlsFiles{trust.Path("ca.crt"), certs.Path("gateway.crt"), certs.Path("gateway.key")});
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return credentials.ok() ? *credentials : nullptr;
}

v1::LoadFunctionRequest DigitsLoad() {
  v1::LoadFunctionRequest request;
  request.mutable_spec()->set_name("digits");
  request.mutable_spec()->set_runtime("onnx");
  request.set_artifact(DigitsModel());
  request.mutable_spec()->set_sha256(common::Sha256Hex(request.artifact()));
  return request;
}

v1::InvokeRequest DigitsInvoke() {
  v1::InvokeRequest request;
  request.set_function("digits");
  request.set_sha256(common::Sha256Hex(DigitsModel()));
  request.set_timeout_ms(5000);
  v1::Tensor* t = request.add_inputs();
  t->set_name("pixels");
  t->set_datatype(v1::FP32);
  t->add_shape(1);
  t->add_shape(64);
  std::vector<float> pixels(64, 8.0f);
  t->set_raw(std::string(reinterpret_cast<const char*>(pixels.data()), 64 * sizeof(float)));
  return request;
}

// One GetStatus over a fresh channel with `credentials`: its gRPC status.
grpc::Status StatusWith(const std::string& address,
                        std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto stub = v1::Executor::NewStub(grpc::CreateChannel(address, std::move(credentials)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetStatusResponse response;
  return stub->GetStatus(&context, v1::GetStatusRequest(), &response);
}

class ExecutorTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = MakeDevCerts("certs");
    foreign_ = MakeDevCerts("foreign");
    ASSERT_FALSE(certs_.dir.empty());
    ASSERT_FALSE(foreign_.dir.empty());
  }

  std::vector<std::string> TlsArgs(const DevCerts& certs) const {
    return {"--tls-cert",      certs.Path("executor.crt"), "--tls-key", certs.Path("executor.key"),
            "--tls-client-ca", certs.Path("ca.crt")};
  }

  std::unique_ptr<Process> StartExecutor(const std::string& listen,
                                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", listen, "--threads", "2"};
    std::vector<std::string> tls = TlsArgs(certs_);
    args.insert(args.end(), tls.begin(), tls.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return Process::Start(BinaryPath("stoa-executor"), args);
  }

  // Loads and invokes digits through `client`: the invocation's status.
  absl::Status LoadAndInvoke(GrpcExecutor& client) {
    auto loaded = Await<v1::LoadFunctionResponse>(
        [&](auto done) { client.LoadFunction(DigitsLoad(), done); });
    if (!loaded.ok()) return loaded.status();
    auto answer =
        Await<v1::InvokeResponse>([&](auto done) { client.Invoke(DigitsInvoke(), done); });
    if (!answer.ok()) return answer.status();
    EXPECT_EQ(answer->outputs_size(), 1);
    return absl::OkStatus();
  }

  GrpcExecutor::Options TlsOptions(const DevCerts& certs, const DevCerts& trust) const {
    GrpcExecutor::Options options;
    options.credentials = GatewayCredentials(certs, trust);
    return options;
  }

  DevCerts certs_;
  DevCerts foreign_;
};

TEST_F(ExecutorTlsTest, OnlyClientsWithACertificateTheCaSignedGetIn) {
  auto executor = StartExecutor("127.0.0.1:0");
  ASSERT_NE(executor, nullptr);
  GrpcExecutor gateway(executor->address(), TlsOptions(certs_, certs_));
  ASSERT_TRUE(LoadAndInvoke(gateway).ok());

  // No client certificate: the CA is right, the handshake is not.
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = ReadFileOrDie(certs_.Path("ca.crt"));
  // A certificate another CA signed (that client trusts our executor).
  auto foreign_client = GatewayCredentials(foreign_, certs_);
  // A device certificate the right CA signed is a client too: the CA is
  // the boundary (docs/security.md), so it gets in.
  auto device = ExecutorChannelCredentials(
      ChannelTlsFiles{certs_.Path("ca.crt"), certs_.Path("device.crt"), certs_.Path("device.key")});
  ASSERT_TRUE(device.ok()) << device.status();
  struct Case {
    const char* what;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
  };
  for (const Case& c : {Case{"no certificate", grpc::SslCredentials(no_cert)},
                        Case{"another CA's certificate", foreign_client},
                        Case{"plaintext", grpc::InsecureChannelCredentials()}}) {
    grpc::Status refused = StatusWith(executor->address(), c.credentials);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
        << c.what << ": " << refused.error_message();
    // The good client is still served, on its open connection and a new one.
    EXPECT_TRUE(
        Await<v1::InvokeResponse>([&](auto done) { gateway.Invoke(DigitsInvoke(), done); }).ok())
        << "after " << c.what;
    EXPECT_TRUE(StatusWith(executor->address(), GatewayCredentials(certs_, certs_)).ok())
        << "after " << c.what;
  }
  EXPECT_TRUE(StatusWith(executor->address(), *device).ok());
  EXPECT_TRUE(executor->Running());
}

TEST_F(ExecutorTlsTest, ClientNamesKeepOtherCertificatesOfTheSameCaOut) {
  auto executor = StartExecutor("127.0.0.1:0", {"--tls-client-name", "gateway"});
  ASSERT_NE(executor, nullptr);
  GrpcExecutor gateway(executor->address(), TlsOptions(certs_, certs_));
  ASSERT_TRUE(LoadAndInvoke(gateway).ok());
  auto device = ExecutorChannelCredentials(
      ChannelTlsFiles{certs_.Path("ca.crt"), certs_.Path("device.crt"), certs_.Path("device.key")});
  ASSERT_TRUE(device.ok()) << device.status();
  auto stub = v1::Executor::NewStub(grpc::CreateChannel(executor->address(), *device));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::LoadFunctionResponse response;
  grpc::Status s = stub->LoadFunction(&context, DigitsLoad(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "the client certificate ('device') names none of the executor's --tls-client-name");
  EXPECT_EQ(StatusWith(executor->address(), *device).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(
      Await<v1::InvokeResponse>([&](auto done) { gateway.Invoke(DigitsInvoke(), done); }).ok());

  ExitResult plain = RunToExit(BinaryPath("stoa-executor"),
                               {"--listen", "127.0.0.1:0", "--tls-client-name", "gateway"});
  EXPECT_EQ(plain.exit_code, 2);
  EXPECT_THAT(plain.stderr_text, HasSubstr("--tls-client-name needs mutual TLS"));
}

TEST_F(ExecutorTlsTest, TheClientRefusesAnExecutorAnotherCaSigned) {
  auto executor = StartExecutor("127.0.0.1:0");
  ASSERT_NE(executor, nullptr);
  // Presents a good certificate, but trusts only the foreign CA.
  GrpcExecutor client(executor->address(), TlsOptions(certs_, foreign_));
  auto status = Await<v1::GetStatusResponse>([&](auto done) { client.GetStatus(done); });
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable) << status.status();
  // A TLS client against a plaintext executor fails the same way.
  auto plain = Process::Start(BinaryPath("stoa-executor"), {"--listen", "127.0.0.1:0"});
  ASSERT_NE(plain, nullptr);
  GrpcExecutor tls_to_plain(plain->address(), TlsOptions(certs_, certs_));
  status = Await<v1::GetStatusResponse>([&](auto done) { tls_to_plain.GetStatus(done); });
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable) << status.status();
}

TEST_F(ExecutorTlsTest, ServerNameAndUnixSockets) {
  auto executor = StartExecutor("127.0.0.1:0");
  ASSERT_NE(executor, nullptr);
  // "localhost:PORT" matches the DNS SAN; a name the certificate lacks does not.
  GrpcExecutor by_name("localhost:" + std::to_string(executor->port()), TlsOptions(certs_, certs_));
  EXPECT_TRUE(Await<v1::GetStatusResponse>([&](auto done) { by_name.GetStatus(done); }).ok());
  GrpcExecutor::Options wrong_name = TlsOptions(certs_, certs_);
  wrong_name.tls_server_name = "executor.example";
  GrpcExecutor mismatch(executor->address(), wrong_name);
  EXPECT_EQ(
      Await<v1::GetStatusResponse>([&](auto done) { mismatch.GetStatus(done); }).status().code(),
      absl::StatusCode::kUnavailable);

  // TLS over a unix socket: the name checked is "localhost".
  const std::string socket = "unix:" + MakeTempDir("sock") + "/executor.sock";
  auto local = StartExecutor(socket);
  ASSERT_NE(local, nullptr);
  GrpcExecutor over_unix(socket, TlsOptions(certs_, certs_));
  EXPECT_TRUE(LoadAndInvoke(over_unix).ok());
  EXPECT_EQ(StatusWith(socket, grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ExecutorTlsTest, RotatedFilesArePickedUpWithoutARestart) {
  // The executor reads its files from `live`, which starts as a copy of
  // certs_ and is then replaced by the foreign set.
  namespace fs = std::filesystem;
  const std::string live = MakeTempDir("live");
  for (const char* f : {"executor.crt", "executor.key", "ca.crt"}) {
    fs::copy_file(certs_.Path(f), live + "/" + f);
  }
  auto executor = Process::Start(
      BinaryPath("stoa-executor"),
      {"--listen", "127.0.0.1:0", "--tls-cert", live + "/executor.crt", "--tls-key",
       live + "/executor.key", "--tls-client-ca", live + "/ca.crt", "--tls-refresh-s", "1"});
  ASSERT_NE(executor, nullptr);
  ASSERT_TRUE(StatusWith(executor->address(), GatewayCredentials(certs_, certs_)).ok());
  EXPECT_FALSE(StatusWith(executor->address(), GatewayCredentials(foreign_, foreign_)).ok());

  // Rotate: each file replaced by rename (atomic), key and certificate first.
  for (const char* f : {"executor.key", "executor.crt", "ca.crt"}) {
    fs::copy_file(foreign_.Path(f), live + "/" + f + ".new");
    fs::rename(live + "/" + f + ".new", live + "/" + f);
  }
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {
    rotated = StatusWith(executor->address(), GatewayCredentials(foreign_, foreign_)).ok();
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(rotated) << "the rotated certificates were not picked up within 10 s";
  EXPECT_FALSE(StatusWith(executor->address(), GatewayCredentials(certs_, certs_)).ok());
  EXPECT_TRUE(executor->Running());
}

TEST_F(ExecutorTlsTest, TheClientPicksUpRotatedFilesWithoutARestart) {
  // The client (the gateway's side) reads its files from `live`, a copy of
  // certs_ later replaced by the foreign set; one credentials object serves
  // every channel, as in the gateway.
  namespace fs = std::filesystem;
  const std::string live = MakeTempDir("client-live");
  for (const char* f : {"gateway.crt", "gateway.key", "ca.crt"}) {
    fs::copy_file(certs_.Path(f), live + "/" + f);
  }
  auto credentials = ExecutorChannelCredentials(ChannelTlsFiles{
      live + "/ca.crt", live + "/gateway.crt", live + "/gateway.key", /*refresh_interval_s=*/1});
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  auto ours = StartExecutor("127.0.0.1:0");
  auto theirs = Process::Start(
      BinaryPath("stoa-executor"),
      {"--listen", "127.0.0.1:0", "--threads", "2", "--tls-cert", foreign_.Path("executor.crt"),
       "--tls-key", foreign_.Path("executor.key"), "--tls-client-ca", foreign_.Path("ca.crt")});
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);
  ASSERT_TRUE(StatusWith(ours->address(), *credentials).ok());
  EXPECT_FALSE(StatusWith(theirs->address(), *credentials).ok());

  for (const char* f : {"gateway.key", "gateway.crt", "ca.crt"}) {
    fs::copy_file(foreign_.Path(f), live + "/" + f + ".new");
    fs::rename(live + "/" + f + ".new", live + "/" + f);
  }
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {
    rotated = StatusWith(theirs->address(), *credentials).ok();
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(rotated) << "the client's rotated files were not picked up within 10 s";
  // The old CA no longer vouches for `ours`, nor ours' CA for our new certificate.
  EXPECT_FALSE(StatusWith(ours->address(), *credentials).ok());
}

TEST_F(ExecutorTlsTest, SecureDefaultsAndBadFilesRefuseToStart) {
  const std::string bin = BinaryPath("stoa-executor");
  ExitResult open = RunToExit(bin, {"--listen", "0.0.0.0:0"});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_THAT(open.stderr_text, HasSubstr("refusing to listen on 0.0.0.0:0 without TLS"));
  EXPECT_THAT(open.stderr_text, HasSubstr("--tls-client-ca"));
  EXPECT_THAT(open.stderr_text, HasSubstr("--insecure"));

  ExitResult metrics = RunToExit(bin, {"--metrics-listen", "0.0.0.0:0", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(metrics.exit_code, 2);
  EXPECT_THAT(metrics.stderr_text, HasSubstr("refusing to serve /metrics"));

  ExitResult half =
      RunToExit(bin, {"--listen", "127.0.0.1:0", "--tls-cert", certs_.Path("executor.crt"),
                      "--tls-key", certs_.Path("executor.key")});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_THAT(half.stderr_text, HasSubstr("go together"));

  std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
  std::vector<std::string> tls = TlsArgs(certs_);
  tls[3] = foreign_.Path("executor.key");  // a key of another certificate
  args.insert(args.end(), tls.begin(), tls.end());
  ExitResult mismatch = RunToExit(bin, args);
  EXPECT_EQ(mismatch.exit_code, 2);
  EXPECT_THAT(mismatch.stderr_text, HasSubstr("does not match the certificate"));
  tls[3] = certs_.Path("missing.key");
  args.resize(2);
  args.insert(args.end(), tls.begin(), tls.end());
  ExitResult missing = RunToExit(bin, args);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.stderr_text, HasSubstr("missing.key' cannot be opened"));
  // Key material never reaches the output.
  EXPECT_THAT(mismatch.stderr_text + missing.stderr_text, Not(HasSubstr("PRIVATE KEY")));

  // --insecure accepts the network address; TLS does without it.
  auto insecure =
      Process::Start(bin, {"--listen", "0.0.0.0:0", "--insecure", "--log-level", "warn"});
  EXPECT_NE(insecure, nullptr);
  auto with_tls = StartExecutor("0.0.0.0:0");
  ASSERT_NE(with_tls, nullptr);
  EXPECT_TRUE(StatusWith("127.0.0.1:" + std::to_string(with_tls->port()),
                         GatewayCredentials(certs_, certs_))
                  .ok());
}

TEST_F(ExecutorTlsTest, LoadFunctionRefusesWhatRestRefusesInItsWords) {
  auto executor = StartExecutor("127.0.0.1:0");
  ASSERT_NE(executor, nullptr);
  auto stub = v1::Executor::NewStub(
      grpc::CreateChannel(executor->address(), GatewayCredentials(certs_, certs_)));
  struct Case {
    std::function<void(v1::FunctionSpec&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](v1::FunctionSpec& s) { s.set_name("../../x\n"); },
       "function name '../../x\n' must start with [a-z0-9]; function names match "
       "[a-z0-9][a-z0-9_.-]{0,62}"},
      {[](v1::FunctionSpec& s) { s.mutable_limits()->set_timeout_ms(UINT32_MAX); },
       "spec field 'limits.timeout_ms' is 4294967295 ms; the limit is 60000 ms (maximum "
       "timeout_ms)"},
      {[](v1::FunctionSpec& s) { s.mutable_limits()->set_memory_mb(UINT32_MAX); },
       "spec field 'limits.memory_mb' must be between 0 and 1048576"},
      {[](v1::FunctionSpec& s) { s.set_tenant("Acme"); },
       "tenant name 'Acme' must start with [a-z0-9]; tenant names match "
       "[a-z0-9][a-z0-9_.-]{0,62}"},
  };
  for (const Case& c : cases) {
    v1::LoadFunctionRequest request = DigitsLoad();
    c.change(*request.mutable_spec());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::LoadFunctionResponse response;
    grpc::Status s = stub->LoadFunction(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(), c.message);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.functions_size(), 0) << status.DebugString();
}

// The same bad specs through a real gateway's REST API and straight to its
// executor's LoadFunction: the same refusal, word for word.
TEST(ExecutorSpecParityTest, RestAndGrpcRefuseTheSameSpecsTheSameWay) {
  Platform platform = StartPlatform("parity");
  ASSERT_NE(platform.client, nullptr);
  auto stub = v1::Executor::NewStub(
      grpc::CreateChannel(platform.executor->address(), grpc::InsecureChannelCredentials()));
  struct Case {
    std::string json;
    std::function<void(v1::FunctionSpec&)> change;
  };
  const std::vector<Case> cases = {
      {R"({"name":"../../x\n","runtime":"onnx"})",
       [](v1::FunctionSpec& s) { s.set_name("../../x\n"); }},
      {R"({"name":"digits","runtime":"onnx","limits":{"timeout_ms":4294967295}})",
       [](v1::FunctionSpec& s) { s.mutable_limits()->set_timeout_ms(UINT32_MAX); }},
      {R"({"name":"digits","runtime":"onnx","limits":{"memory_mb":4294967295}})",
       [](v1::FunctionSpec& s) { s.mutable_limits()->set_memory_mb(UINT32_MAX); }},
      {R"({"name":"digits","runtime":"tflite"})",
       [](v1::FunctionSpec& s) { s.set_runtime("tflite"); }},
      {R"({"name":"digits","runtime":"onnx","tiers":["edge","edge"]})",
       [](v1::FunctionSpec& s) {
         s.add_tiers("edge");
         s.add_tiers("edge");
       }},
      {R"({"name":"digits","runtime":"onnx","slo_ms":-1})",
       [](v1::FunctionSpec& s) { s.set_slo_ms(-1); }},
      {R"({"name":"digits","runtime":"onnx","content_type":"json"})",
       [](v1::FunctionSpec& s) { s.set_content_type("json"); }},
      {R"({"name":"digits","runtime":"onnx","description":")" + std::string(4097, 'd') + R"("})",
       [](v1::FunctionSpec& s) { s.set_description(std::string(4097, 'd')); }},
  };
  for (const Case& c : cases) {
    Multipart body = MakeRegistration(c.json, DigitsModel());
    HttpResult rest = platform.client->Post("/v1/functions", body.body, body.content_type);
    const std::string rest_message = ErrorMessage(rest, 400, "INVALID_ARGUMENT");
    v1::LoadFunctionRequest request = DigitsLoad();
    c.change(*request.mutable_spec());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::LoadFunctionResponse response;
    grpc::Status s = stub->LoadFunction(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.json.substr(0, 80);
    EXPECT_EQ(s.error_message(), rest_message) << c.json.substr(0, 80);
  }
  EXPECT_EQ(platform.client->Get("/v1/functions/digits").status, 404);
}

}  // namespace
}  // namespace stoa::testing
