// The `stoa` binary against an HTTPS server (HttpServer with TLS, certificates
// from deploy/tls/make-dev-certs.sh): --cacert / STOA_CACERT verify the
// server (and without them verification fails, saying so), --token /
// STOA_TOKEN become "Authorization: Bearer", --cert/--key present a client
// certificate, a 401 is printed with the gateway's message, and `stoa tokens
// create` prints a token whose SHA-256 is in the entry it prints.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/http_server.h"
#include "common/sha256.h"
#include "common/tls_context.h"
#include "gtest/gtest.h"
#include "tests/fakes/common/dev_certs.h"
#include "yaml-cpp/yaml.h"

namespace stoa::tools {
namespace {

// GET /v1/functions: 200 "[]" for "Bearer good" or a client certificate
// (its names in X-Peer), else 401 with the gateway's JSON error.
class FakeGateway : public common::HttpHandler {
 public:
  void Handle(common::HttpRequest request, common::HttpResponder respond) override {
    common::HttpResponse response;
    if (request.Header("authorization") == "Bearer good" || !request.peer_names.empty()) {
      response.body = "[]";
      if (!request.peer_names.empty())
        response.headers.emplace_back("X-Peer", request.peer_names[0]);
    } else {
      response.status = 401;
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      response.body =
          R"({"error":{"code":"UNAUTHENTICATED","message":"missing or invalid bearer token"}})";
    }
    respond(std::move(response));
  }
};

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

class StoaCliTlsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove(certs_ + ".log", ec);
  }
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/stoa-cli-tls-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    certs_ = dir_ + "/certs";
    ASSERT_TRUE(stoa::testing::WriteDevCerts(certs_)) << "see " << certs_ << ".log";
    auto tls = common::TlsServerContext::Load(
        {certs_ + "/gateway.crt", certs_ + "/gateway.key", certs_ + "/ca.crt"});
    ASSERT_TRUE(tls.ok()) << tls.status();
    common::HttpServer::Options options;
    options.host = "127.0.0.1";
    options.tls = *tls;
    server_ = std::make_unique<common::HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    url_ = "https://127.0.0.1:" + std::to_string(*port);
  }

  // Runs `env -u ... ENV stoa ARGS`; the variables the CLI reads are unset
  // unless `env` sets them.
  CliRun Stoa(const std::string& env, const std::string& args) {
    const char* bin = std::getenv("STOA_BIN_DIR");
    const std::string err_file = dir_ + "/stderr";
    const std::string command = "env -u STOA_CACERT -u STOA_TOKEN -u STOA_GATEWAY " + env + " '" +
                                std::string(bin != nullptr ? bin : ".") + "/stoa' " + args +
                                " 2>'" + err_file + "'";
    CliRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) run.out.append(buf, n);
    const int status = ::pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::ostringstream ss;
    ss << in.rdbuf();
    run.err = ss.str();
    return run;
  }

  std::string dir_, certs_, url_;
  FakeGateway handler_;  // outlives the server
  std::unique_ptr<common::HttpServer> server_;
};

TEST_F(StoaCliTlsTest, CaCertVerifiesTheGateway) {
  CliRun untrusted = Stoa("", "--gateway " + url_ + " --token good functions list");
  EXPECT_EQ(untrusted.exit_code, 1);
  EXPECT_NE(untrusted.err.find("certificate verify failed"), std::string::npos) << untrusted.err;
  EXPECT_NE(untrusted.err.find("--cacert FILE or STOA_CACERT"), std::string::npos) << untrusted.err;

  CliRun flag = Stoa(
      "", "--gateway " + url_ + " --cacert " + certs_ + "/ca.crt --token good " + "functions list");
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  EXPECT_EQ(flag.out, "[]\n");
  CliRun env = Stoa("STOA_CACERT=" + certs_ + "/ca.crt STOA_TOKEN=good STOA_GATEWAY=" + url_,
                    "functions list");
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(env.out, "[]\n");

  // Another CA does not vouch for this gateway.
  const std::string foreign = dir_ + "/foreign";
  ASSERT_TRUE(stoa::testing::WriteDevCerts(foreign));
  CliRun wrong_ca =
      Stoa("", "--gateway " + url_ + " --cacert " + foreign + "/ca.crt functions list");
  EXPECT_EQ(wrong_ca.exit_code, 1);
  EXPECT_NE(wrong_ca.err.find("certificate verify failed"), std::string::npos) << wrong_ca.err;
}

TEST_F(StoaCliTlsTest, BadCaFileIsALocalError) {
  CliRun run = Stoa("", "--gateway " + url_ + " --cacert " + certs_ + "/ca.key functions list");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("--cacert " + certs_ + "/ca.key: no certificate found (PEM expected)"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("PRIVATE KEY"), std::string::npos) << "no key material in errors";
}

TEST_F(StoaCliTlsTest, MissingTokenPrintsTheGatewaysMessage) {
  CliRun run = Stoa("STOA_CACERT=" + certs_ + "/ca.crt", "--gateway " + url_ + " functions list");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("HTTP 401: UNAUTHENTICATED: missing or invalid bearer token"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("--token"), std::string::npos) << run.err;
  CliRun wrong = Stoa("STOA_CACERT=" + certs_ + "/ca.crt STOA_TOKEN=bad",
                      "--gateway " + url_ + " functions list");
  EXPECT_EQ(wrong.exit_code, 1);
}

TEST_F(StoaCliTlsTest, ClientCertificateIsPresented) {
  CliRun run = Stoa("STOA_CACERT=" + certs_ + "/ca.crt", "--gateway " + url_ + " --cert " + certs_ +
                                                             "/device.crt --key " + certs_ +
                                                             "/device.key functions list");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "[]\n");
  CliRun half = Stoa("", "--gateway " + url_ + " --cert " + certs_ + "/device.crt functions list");
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("--cert and --key go together"), std::string::npos) << half.err;
}

TEST_F(StoaCliTlsTest, PlainHttpToTheTlsPortIsExplained) {
  std::string plain = url_;
  plain.replace(0, 5, "http");
  CliRun run = Stoa("", "--gateway " + plain + " functions list");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("HTTP 400: INVALID_ARGUMENT: this port serves HTTPS: use https://"),
            std::string::npos)
      << run.err;
}

TEST_F(StoaCliTlsTest, TokensCreateNeedsNoGateway) {
  CliRun run = Stoa("STOA_GATEWAY=http://127.0.0.1:1",
                    "tokens create --role invoker --tenant acme --functions digits 'anomaly-*'");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const size_t newline = run.out.find('\n');
  const std::string token = run.out.substr(0, newline);
  EXPECT_EQ(token.rfind("stoa_", 0), 0u) << run.out;
  const YAML::Node entry = YAML::Load("tokens:\n" + run.out.substr(newline + 1))["tokens"][0];
  EXPECT_EQ(entry["sha256"].as<std::string>(), common::Sha256Hex(token));
  EXPECT_EQ(entry["role"].as<std::string>(), "invoker");
  EXPECT_EQ(entry["tenant"].as<std::string>(), "acme");
  EXPECT_EQ(entry["functions"].size(), 2u);
  CliRun bad = Stoa("", "tokens create --role root");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
}

}  // namespace
}  // namespace stoa::tools
