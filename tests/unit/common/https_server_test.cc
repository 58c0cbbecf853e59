// HttpServer over TLS (http_server.h, tls_context.h) with certificates from
// deploy/tls/make-dev-certs.sh: keep-alive and pipelining, certificate
// reload (a new connection sees the new certificate, an old one keeps
// working, a broken file keeps the old one), load errors, and plaintext HTTP
// on the TLS port.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/unit/common/tls_test_client.h"

namespace stoa::common {
namespace {

using namespace std::chrono_literals;
using tls_test::CertDir;
using tls_test::EchoHandler;
using tls_test::Eventually;
using tls_test::TlsClient;

void CopyFile(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// The server's certificate and key are copies under live/, so a test can
// replace them and Reload.
class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = CertDir("a");
    live_ = certs_ + "/live";
    std::filesystem::create_directories(live_);
    CopyFile(certs_ + "/gateway.crt", live_ + "/server.crt");
    CopyFile(certs_ + "/gateway.key", live_ + "/server.key");
  }
  void StartServer(const std::string& client_ca = "") {
    auto tls = TlsServerContext::Load({live_ + "/server.crt", live_ + "/server.key", client_ca});
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = *tls;
    HttpServer::Options options;
    options.host = "127.0.0.1";
    options.tls = tls_;
    options.header_timeout_ms = 2000;
    server_ = std::make_unique<HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    handler_.AnswerHeld();
    server_.reset();
  }
  TlsClientFiles TrustA() const { return {certs_ + "/ca.crt", "", ""}; }

  std::string certs_, live_;
  EchoHandler handler_;  // outlives the server
  std::shared_ptr<TlsServerContext> tls_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpsServerTest, KeepAliveAndPipeliningOverTls) {
  StartServer();
  TlsClient client(TrustA());
  ASSERT_EQ(client.Connect(port_), "");
  EXPECT_EQ(client.Get("/one"), "/one tls=1 names=");
  // Two requests in one write: answered in order on the same connection.
  ASSERT_TRUE(
      client.Send("GET /two HTTP/1.1\r\nHost: localhost\r\n\r\n"
                  "POST /three HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc"));
  EXPECT_EQ(client.ReadResponse(), "/two tls=1 names=");
  EXPECT_EQ(client.ReadResponse(), "/three tls=1 names=");
  EXPECT_EQ(client.Get("/four"), "/four tls=1 names=");
  EXPECT_EQ(server_->stats().connections, 1u);
  EXPECT_EQ(server_->stats().tls_handshake_failures, 0u);
}

// Megabytes each way: the request spans many TLS records and socket reads;
// the response is written while the client does not read, so the kernel
// takes only part of it and the rest waits in the stream's queue.
TEST_F(HttpsServerTest, LargeBodiesBothWaysWithASlowReader) {
  StartServer();
  TlsClient client(TrustA());
  ASSERT_EQ(client.Connect(port_), "");
  std::string body(6 * 1024 * 1024, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7919) % 26);
  ASSERT_TRUE(client.Send(absl::StrCat("POST /echo-body HTTP/1.1\r\nHost: localhost\r\n",
                                       "Content-Length: ", body.size(), "\r\n\r\n", body)));
  std::this_thread::sleep_for(300ms);
  int status = 0;
  const std::string echoed = client.ReadResponse(&status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(echoed.size(), body.size());
  EXPECT_TRUE(echoed == body);
  EXPECT_EQ(client.Get("/after"), "/after tls=1 names=");  // the connection still works
}

TEST_F(HttpsServerTest, ServerNameMustMatch) {
  StartServer();
  TlsClient client(TrustA());
  EXPECT_EQ(client.Connect(port_, "localhost"), "");  // a DNS SAN
  const std::string wrong = client.Connect(port_, "gateway.example");
  EXPECT_NE(wrong.find("certificate verify failed: hostname mismatch"), std::string::npos) << wrong;
}

TEST_F(HttpsServerTest, ReloadServesTheNewCertificateToNewConnections) {
  StartServer();
  TlsClient old_connection(TrustA());
  ASSERT_EQ(old_connection.Connect(port_), "");
  EXPECT_EQ(old_connection.Get("/before"), "/before tls=1 names=");

  const std::string other = CertDir("b");  // another CA
  CopyFile(other + "/gateway.crt", live_ + "/server.crt");
  CopyFile(other + "/gateway.key", live_ + "/server.key");
  ASSERT_TRUE(tls_->Reload().ok());

  TlsClient trusts_b({other + "/ca.crt", "", ""});
  EXPECT_EQ(trusts_b.Connect(port_), "");
  EXPECT_EQ(trusts_b.Get("/after"), "/after tls=1 names=");
  TlsClient trusts_a(TrustA());
  const std::string refused = trusts_a.Connect(port_);
  EXPECT_NE(refused.find("certificate verify failed"), std::string::npos) << refused;
  // The connection made before the reload keeps its session.
  EXPECT_EQ(old_connection.Get("/still"), "/still tls=1 names=");
}

TEST_F(HttpsServerTest, BrokenReloadKeepsServingTheOldCertificate) {
  StartServer();
  const std::string summary = tls_->summary();
  { std::ofstream(live_ + "/server.crt") << "not a certificate\n"; }
  absl::Status s = tls_->Reload();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--tls-cert " + live_ + "/server.crt: no certificate found (PEM expected)");

  // A valid certificate whose key is another one.
  const std::string other = CertDir("b");
  CopyFile(other + "/gateway.crt", live_ + "/server.crt");
  s = tls_->Reload();
  EXPECT_NE(s.message().find("the key does not match the certificate"), std::string::npos) << s;
  EXPECT_EQ(s.message().find("PRIVATE KEY"), std::string::npos) << "no key material in errors";
  EXPECT_EQ(tls_->summary(), summary);

  TlsClient client(TrustA());
  ASSERT_EQ(client.Connect(port_), "");
  EXPECT_EQ(client.Get("/ok"), "/ok tls=1 names=");
}

TEST_F(HttpsServerTest, LoadErrorsNameTheFlagAndFile) {
  auto missing = TlsServerContext::Load({certs_ + "/nope.crt", certs_ + "/gateway.key", ""});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("--tls-cert " + certs_ + "/nope.crt: cannot open"),
            std::string::npos)
      << missing.status();
  auto key_as_cert = TlsServerContext::Load({certs_ + "/gateway.key", certs_ + "/gateway.key", ""});
  EXPECT_NE(key_as_cert.status().message().find("no certificate found (PEM expected)"),
            std::string::npos)
      << key_as_cert.status();
  auto cert_as_key = TlsServerContext::Load({certs_ + "/gateway.crt", certs_ + "/gateway.crt", ""});
  EXPECT_NE(cert_as_key.status().message().find("--tls-key " + certs_ +
                                                "/gateway.crt: no private key found"),
            std::string::npos)
      << cert_as_key.status();
  auto bad_ca = TlsServerContext::Load(
      {certs_ + "/gateway.crt", certs_ + "/gateway.key", certs_ + "/ca.key"});
  EXPECT_NE(bad_ca.status().message().find("--tls-client-ca"), std::string::npos)
      << bad_ca.status();
  EXPECT_TRUE(
      TlsServerContext::Load({certs_ + "/gateway.crt", certs_ + "/gateway.key", certs_ + "/ca.crt"})
          .ok());
}

// A raw TCP client speaking plaintext HTTP to the TLS port.
std::string PlaintextExchange(uint16_t port, const std::string& request, int timeout_s = 3) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

TEST_F(HttpsServerTest, PlaintextRequestGetsAPlaintext400) {
  StartServer();
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  const std::string answer =
      PlaintextExchange(port_, "GET /v1/functions HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  ASSERT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  const nlohmann::json body = nlohmann::json::parse(answer.substr(answer.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(body["error"]["message"], "this port serves HTTPS: use https://" + host + "/");
  // Without a usable Host the hint stays generic.
  const std::string bare = PlaintextExchange(port_, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(bare.find("this port serves HTTPS: use https://..."), std::string::npos) << bare;
  EXPECT_EQ(server_->stats().tls_handshake_failures, 2u);
  // TLS clients are still served.
  TlsClient client(TrustA());
  ASSERT_EQ(client.Connect(port_), "");
  EXPECT_EQ(client.Get("/after"), "/after tls=1 names=");
  EXPECT_TRUE(Eventually([&] { return server_->stats().connections == 1; }));
}

TEST_F(HttpsServerTest, SilentClientIsClosedAfterTheHeaderTimeout) {
  StartServer();
  const auto start = std::chrono::steady_clock::now();
  const std::string answer = PlaintextExchange(port_, "", 20);
  EXPECT_EQ(answer, "");
  // The header timeout is 2 s: the server closed it, not the client's 20 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  EXPECT_TRUE(Eventually([&] { return server_->stats().connections == 0; }));
}

}  // namespace
}  // namespace stoa::common
