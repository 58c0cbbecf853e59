// The integration harness speaks HTTPS (HttpClientOptions): verifies the
// server against a CA from deploy/tls/make-dev-certs.sh, sends default and
// per-request headers (Authorization), presents a client certificate, and
// reports why a connection was refused. The server is an in-process
// HttpServer with TLS; the route x role tests use the same client against
// stoa-gateway.
#include <filesystem>

#include "common/http_server.h"
#include "common/tls_context.h"
#include "gtest/gtest.h"
#include "tests/fakes/common/dev_certs.h"
#include "tests/integration/harness.h"

namespace stoa::testing {
namespace {

// Echoes "<method> <path> auth=<Authorization> peer=<first peer name> body=<body>".
class Echo : public common::HttpHandler {
 public:
  void Handle(common::HttpRequest request, common::HttpResponder respond) override {
    common::HttpResponse response;
    response.content_type = "text/plain";
    response.status = request.path == "/forbidden" ? 403 : 200;
    response.headers.emplace_back("X-Tls", request.tls ? "1" : "0");
    response.body = request.method + " " + request.path +
                    " auth=" + request.Header("authorization") +
                    " peer=" + (request.peer_names.empty() ? "" : request.peer_names[0]) +
                    " body=" + request.body;
    respond(std::move(response));
  }
};

class HttpsHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = MakeTempDir("https-harness");
    ASSERT_TRUE(WriteDevCerts(certs_));
    auto tls = common::TlsServerContext::Load(
        {certs_ + "/gateway.crt", certs_ + "/gateway.key", certs_ + "/ca.crt"});
    ASSERT_TRUE(tls.ok()) << tls.status();
    common::HttpServer::Options options;
    options.host = "127.0.0.1";
    options.tls = *tls;
    server_ = std::make_unique<common::HttpServer>(options, echo_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = server_->address();
  }

  std::string certs_, address_;
  Echo echo_;  // outlives the server
  std::unique_ptr<common::HttpServer> server_;
};

TEST_F(HttpsHarnessTest, RequestsWithDefaultAndPerRequestHeaders) {
  HttpClient client(address_, {certs_ + "/ca.crt", "", "", {{"Authorization", "Bearer one"}}});
  HttpResult r = client.Post("/v1/functions", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-tls"), "1");
  EXPECT_EQ(r.body, "POST /v1/functions auth=Bearer one peer= body={}");
  r = client.Send("DELETE", "/forbidden", "", "", {{"Authorization", "Bearer two"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "DELETE /forbidden auth=Bearer two peer= body=");
  client.SetHeader("Authorization", "");
  EXPECT_EQ(client.Get("/x").body, "GET /x auth= peer= body=");
  EXPECT_EQ(server_->stats().connections, 1u) << "one keep-alive connection";
}

TEST_F(HttpsHarnessTest, ClientCertificate) {
  HttpClient device(address_,
                    {certs_ + "/ca.crt", certs_ + "/device.crt", certs_ + "/device.key", {}});
  EXPECT_EQ(device.Get("/me").body, "GET /me auth= peer=device body=");
}

TEST_F(HttpsHarnessTest, RefusedConnectionsSayWhy) {
  const std::string foreign = MakeTempDir("https-harness-foreign");
  ASSERT_TRUE(WriteDevCerts(foreign));
  HttpClient stranger(address_, {foreign + "/ca.crt", "", "", {}});
  EXPECT_EQ(stranger.Get("/x").status, 0);
  EXPECT_NE(stranger.last_error().find("certificate verify failed"), std::string::npos)
      << stranger.last_error();
  HttpClient plaintext(address_);
  HttpResult r = plaintext.Get("/x");
  EXPECT_EQ(
      ErrorMessage(r, 400, "INVALID_ARGUMENT"),
      "this port serves HTTPS: use https://127.0.0.1/");  // the harness sends Host without the port
}

}  // namespace
}  // namespace stoa::testing
