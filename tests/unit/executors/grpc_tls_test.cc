// executors/grpc_tls.h and executor_tls_flags.h on certificates from
// deploy/tls/make-dev-certs.sh: what is accepted, and the words of each
// refusal (the file and the problem, never key material). The handshakes
// themselves are tested against the real binary in
// tests/integration/executor_tls_test.cc.
#include "executors/grpc_tls.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "executors/executor_tls_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class GrpcTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/grpc-tls-certs-" + std::to_string(getpid()));
    const char* source = std::getenv("STOA_SOURCE_DIR");
    const std::string script =
        std::string(source != nullptr ? source : ".") + "/deploy/tls/make-dev-certs.sh";
    ASSERT_EQ(std::system(("bash '" + script + "' '" + *dir_ + "' >/dev/null 2>&1").c_str()), 0);
    std::ofstream(*dir_ + "/not-pem.txt") << "hello\n";
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }
  static std::string Path(const std::string& file) { return *dir_ + "/" + file; }
  static std::string* dir_;
};
std::string* GrpcTlsTest::dir_ = nullptr;

TEST_F(GrpcTlsTest, GoodFilesMakeCredentials) {
  EXPECT_TRUE(CheckCertificateAndKey(Path("gateway.crt"), Path("gateway.key")).ok());
  EXPECT_TRUE(CheckCaFile(Path("ca.crt")).ok());
  auto server =
      ExecutorServerCredentials({Path("executor.crt"), Path("executor.key"), Path("ca.crt"), 60});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(*server, nullptr);
  auto client =
      ExecutorChannelCredentials({Path("ca.crt"), Path("gateway.crt"), Path("gateway.key")});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*client, nullptr);
}

TEST_F(GrpcTlsTest, EachBadFileIsNamedWithItsProblem) {
  auto expect = [](absl::Status s, const std::string& message) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), message);
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("BEGIN")));
  };
  expect(
      CheckCertificateAndKey(Path("missing.crt"), Path("gateway.key")).status(),
      "certificate file '" + Path("missing.crt") + "' cannot be opened (missing, or not readable)");
  expect(CheckCertificateAndKey(Path("not-pem.txt"), Path("gateway.key")).status(),
         "certificate file '" + Path("not-pem.txt") + "' holds no PEM certificate");
  expect(CheckCertificateAndKey(Path("gateway.crt"), Path("gateway.crt")).status(),
         "private key file '" + Path("gateway.crt") +
             "' holds no PEM private key (or an encrypted one)");
  expect(CheckCertificateAndKey(Path("gateway.crt"), Path("executor.key")).status(),
         "the private key in '" + Path("executor.key") + "' does not match the certificate in '" +
             Path("gateway.crt") + "'");
  expect(CheckCaFile(Path("ca.key")).status(),
         "CA certificate file '" + Path("ca.key") + "' holds no PEM certificate");
  expect(CheckCertificateAndKey("", Path("gateway.key")).status(), "no certificate file given");
  expect(ExecutorServerCredentials({Path("executor.crt"), Path("executor.key"), Path("ca.crt"), 0})
             .status(),
         "the TLS file refresh interval must be at least 1 s");
}

TEST_F(GrpcTlsTest, GatewayFlagsGoTogether) {
  GrpcExecutor::Options options;
  EXPECT_TRUE(ApplyExecutorTlsFlags({}, options).ok());
  EXPECT_EQ(options.credentials, nullptr);

  absl::Status half =
      ApplyExecutorTlsFlags({Path("gateway.crt"), Path("gateway.key"), "", ""}, options);
  EXPECT_EQ(half.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(half.message()), HasSubstr("go together"));
  EXPECT_EQ(options.credentials, nullptr);

  absl::Status name_only = ApplyExecutorTlsFlags({"", "", "", "executor.example"}, options);
  EXPECT_EQ(name_only.code(), absl::StatusCode::kInvalidArgument);

  absl::Status bad = ApplyExecutorTlsFlags(
      {Path("gateway.crt"), Path("executor.key"), Path("ca.crt"), ""}, options);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("--executor-tls-*: the private key in"));
  EXPECT_EQ(options.credentials, nullptr);

  ASSERT_TRUE(
      ApplyExecutorTlsFlags(
          {Path("gateway.crt"), Path("gateway.key"), Path("ca.crt"), "executor.example"}, options)
          .ok());
  EXPECT_NE(options.credentials, nullptr);
  EXPECT_EQ(options.tls_server_name, "executor.example");
}

}  // namespace
}  // namespace stoa::executors
