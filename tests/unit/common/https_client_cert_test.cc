// HttpServer over TLS with a client CA (--tls-client-ca): a certificate the
// CA signed fills HttpRequest::peer_names, none leaves them empty (bearer
// tokens still work), one from a foreign CA or one not made for client
// authentication fails the handshake (counted); and a client that closes
// its TLS connection while the handler works cancels the request.
#include "tests/unit/common/tls_test_client.h"

namespace stoa::common {
namespace {

using namespace std::chrono_literals;
using tls_test::CertDir;
using tls_test::EchoHandler;
using tls_test::Eventually;
using tls_test::TlsClient;

class HttpsClientCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = CertDir("mtls");
    auto tls = TlsServerContext::Load(
        {certs_ + "/gateway.crt", certs_ + "/gateway.key", certs_ + "/ca.crt"});
    ASSERT_TRUE(tls.ok()) << tls.status();
    EXPECT_TRUE(tls.value()->verifies_clients());
    HttpServer::Options options;
    options.host = "127.0.0.1";
    options.tls = *tls;
    server_ = std::make_unique<HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    handler_.AnswerHeld();
    server_.reset();
  }
  TlsClientFiles With(const std::string& dir, const std::string& name) const {
    return {certs_ + "/ca.crt", dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  }

  std::string certs_;
  EchoHandler handler_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpsClientCertTest, CertificateFromTheCaFillsPeerNames) {
  TlsClient device(With(certs_, "device"));
  ASSERT_EQ(device.Connect(port_), "");
  EXPECT_EQ(device.Get("/x"), "/x tls=1 names=device");
  // The gateway's certificate is for clients too: CN, then its SANs.
  TlsClient gateway(With(certs_, "gateway"));
  ASSERT_EQ(gateway.Connect(port_), "");
  EXPECT_EQ(gateway.Get("/y"), "/y tls=1 names=gateway,localhost,127.0.0.1,::1");
}

TEST_F(HttpsClientCertTest, NoCertificateIsAcceptedWithoutNames) {
  TlsClient anonymous({certs_ + "/ca.crt", "", ""});
  ASSERT_EQ(anonymous.Connect(port_), "");
  EXPECT_EQ(anonymous.Get("/z"), "/z tls=1 names=");
  EXPECT_EQ(server_->stats().tls_handshake_failures, 0u);
}

TEST_F(HttpsClientCertTest, ForeignOrServerOnlyCertificateFailsTheHandshake) {
  const std::string foreign = CertDir("foreign");
  TlsClient stranger(With(foreign, "device"));
  // With TLS 1.3 the client may only learn of the refusal on its first read.
  std::string outcome = stranger.Connect(port_);
  if (outcome.empty()) outcome = stranger.Get("/no");
  EXPECT_NE(outcome, "/no tls=1 names=");
  EXPECT_TRUE(Eventually([&] { return server_->stats().tls_handshake_failures == 1; }));
  // executor.crt is for server authentication only.
  TlsClient executor(With(certs_, "executor"));
  outcome = executor.Connect(port_);
  if (outcome.empty()) outcome = executor.Get("/no");
  EXPECT_NE(outcome, "/no tls=1 names=executor");
  EXPECT_TRUE(Eventually([&] { return server_->stats().tls_handshake_failures == 2; }));
  // The server goes on serving.
  TlsClient device(With(certs_, "device"));
  ASSERT_EQ(device.Connect(port_), "");
  EXPECT_EQ(device.Get("/yes"), "/yes tls=1 names=device");
}

TEST_F(HttpsClientCertTest, ClientClosingOverTlsCancelsItsRequest) {
  for (bool notify : {true, false}) {
    SCOPED_TRACE(notify ? "close_notify, then close" : "close without close_notify");
    const size_t index = notify ? 0 : 1;
    TlsClient client(With(certs_, "device"));
    ASSERT_EQ(client.Connect(port_), "");
    ASSERT_TRUE(client.Send("GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    ASSERT_TRUE(Eventually([&] { return handler_.held() == 1; }));
    std::shared_ptr<CancelSignal> signal = handler_.signal(index);
    ASSERT_NE(signal, nullptr);
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(signal->cancelled()) << "the client is still there";
    client.Close(notify);
    EXPECT_TRUE(Eventually([&] { return signal->cancelled(); }));
    handler_.AnswerHeld();
    EXPECT_TRUE(Eventually([&] { return server_->stats().requests_in_flight == 0; }));
  }
}

TEST_F(HttpsClientCertTest, PipelinedRequestOverTlsIsNotACancel) {
  TlsClient client(With(certs_, "device"));
  ASSERT_EQ(client.Connect(port_), "");
  ASSERT_TRUE(client.Send("GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(Eventually([&] { return handler_.held() == 1; }));
  ASSERT_TRUE(client.Send("GET /next HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(handler_.signal(0)->cancelled());
  handler_.AnswerHeld();
  EXPECT_EQ(client.ReadResponse(), "held");
  EXPECT_EQ(client.ReadResponse(), "/next tls=1 names=device");
}

TEST_F(HttpsClientCertTest, DrainClosesIdleTlsConnections) {
  TlsClient client(With(certs_, "device"));
  ASSERT_EQ(client.Connect(port_), "");
  EXPECT_EQ(client.Get("/a"), "/a tls=1 names=device");
  EXPECT_EQ(server_->Drain(5000), 0u);
}

}  // namespace
}  // namespace stoa::common
