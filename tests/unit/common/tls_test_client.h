// A blocking HTTPS client for the HttpServer TLS tests (Boost.Beast over
// OpenSSL, contexts from common/tls_context.h), a handler that echoes what
// the server says about the connection, and the certificate set-up.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "common/http_server.h"
#include "common/tls_context.h"
#include "gtest/gtest.h"
#include "tests/fakes/common/dev_certs.h"

namespace stoa::common::tls_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// Removes the directories CertDir made (and their logs) when the test
// process exits.
struct CertDirs {
  std::vector<std::string> dirs;
  ~CertDirs() {
    std::error_code ec;
    for (const std::string& d : dirs) {
      std::filesystem::remove_all(d, ec);
      std::filesystem::remove(d + ".log", ec);
    }
  }
};

// A fresh directory holding make-dev-certs.sh's output (a new CA each time),
// removed at exit.
inline std::string CertDir(const std::string& name) {
  static int counter = 0;
  static CertDirs made;
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/tls-", name, "-", ::getpid(), "-", counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  made.dirs.push_back(dir);
  EXPECT_TRUE(stoa::testing::WriteDevCerts(dir))
      << "make-dev-certs.sh failed; see " << dir << ".log";
  return dir;
}

// Answers "<path> tls=<0|1> names=<peer names, comma-separated>"; /hold
// keeps the responder until AnswerHeld. Every request's cancel signal is kept.
class EchoHandler : public HttpHandler {
 public:
  void Handle(HttpRequest request, HttpResponder respond) override {
    absl::MutexLock lock(&mu_);
    signals_.push_back(request.cancel);
    if (request.path == "/hold") {
      held_.push_back(std::move(respond));
      return;
    }
    HttpResponse response;
    response.content_type = "text/plain";
    if (request.path == "/echo-body") {
      response.body = std::move(request.body);
      respond(std::move(response));
      return;
    }
    response.body = absl::StrCat(request.path, " tls=", request.tls ? 1 : 0,
                                 " names=", absl::StrJoin(request.peer_names, ","));
    respond(std::move(response));
  }
  size_t held() {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  std::shared_ptr<CancelSignal> signal(size_t i) {
    absl::MutexLock lock(&mu_);
    return i < signals_.size() ? signals_[i] : nullptr;
  }
  void AnswerHeld() {
    std::vector<HttpResponder> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (HttpResponder& respond : held) respond(HttpResponse{200, "text/plain", "held", {}});
  }

 private:
  absl::Mutex mu_;
  std::vector<std::shared_ptr<CancelSignal>> signals_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpResponder> held_ ABSL_GUARDED_BY(mu_);
};

// One HTTPS connection to 127.0.0.1:port, blocking, 5 s receive timeout.
class TlsClient {
 public:
  // `files`: the CA to trust and an optional client certificate.
  explicit TlsClient(const TlsClientFiles& files) {
    auto context = MakeTlsClientContext(files);
    EXPECT_TRUE(context.ok()) << context.status();
    if (context.ok()) context_ = *context;
  }

  // The handshake's outcome ("" = connected).
  std::string Connect(uint16_t port, const std::string& host = "127.0.0.1") {
    if (!context_) return "no client context";
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *context_);
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).socket().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return "connect: " + ec.message();
    timeval tv{5, 0};
    const int fd = beast::get_lowest_layer(*stream_).socket().native_handle();
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (absl::Status s = ConfigureClientConnection(stream_->native_handle(), host); !s.ok()) {
      return std::string(s.message());
    }
    stream_->handshake(asio::ssl::stream_base::client, ec);
    if (ec) return DescribeClientHandshakeError(stream_->native_handle(), ec.message());
    return "";
  }

  // Writes `raw` bytes through TLS.
  bool Send(const std::string& raw) {
    beast::error_code ec;
    asio::write(*stream_, asio::buffer(raw), ec);
    return !ec;
  }
  // Reads one response; its body, or "ERROR: ..." when none came.
  std::string ReadResponse(int* status = nullptr) {
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(*stream_, buffer_, res, ec);
    if (ec) return "ERROR: " + ec.message();
    if (status != nullptr) *status = res.result_int();
    return res.body();
  }
  std::string Get(const std::string& target) {
    if (!Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: localhost\r\n\r\n"))) {
      return "ERROR: write";
    }
    return ReadResponse();
  }
  // Ends with close_notify when `notify`, else just closes the socket.
  void Close(bool notify) {
    if (!stream_) return;
    if (notify) SSL_shutdown(stream_->native_handle());  // sends close_notify, does not wait
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).socket().close(ec);
    stream_.reset();
  }

 private:
  asio::io_context ioc_;
  std::shared_ptr<asio::ssl::context> context_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace stoa::common::tls_test
