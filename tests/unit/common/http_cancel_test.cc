// HttpServer's cancellation (http_server.h): a client that closes its
// connection while the handler works fires the request's cancel signal; an
// answered request, or one followed by a pipelined request, is not
// cancelled; CancelInFlight fires every request in progress.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/http_server.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using namespace std::chrono_literals;

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// /hold keeps the responder until the test answers; anything else is
// answered at once with its path. Every request's cancel signal is kept.
class HoldingHandler : public HttpHandler {
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
    response.body = request.path;
    respond(std::move(response));
  }

  size_t requests() {
    absl::MutexLock lock(&mu_);
    return signals_.size();
  }
  std::shared_ptr<CancelSignal> signal(size_t i) {
    absl::MutexLock lock(&mu_);
    return i < signals_.size() ? signals_[i] : nullptr;
  }
  size_t held() {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  void AnswerHeld(const std::string& body) {
    std::vector<HttpResponder> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (HttpResponder& respond : held) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = body;
      respond(std::move(response));
    }
  }

 private:
  absl::Mutex mu_;
  std::vector<std::shared_ptr<CancelSignal>> signals_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpResponder> held_ ABSL_GUARDED_BY(mu_);
};

class Socket {
 public:
  explicit Socket(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~Socket() { Close(); }
  void Send(const std::string& bytes) {
    EXPECT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  // What arrives until the server closes or `timeout` passes.
  std::string ReceiveAll(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = recv(fd_, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int fd_;
};

class HttpCancelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Options options;
    options.host = "127.0.0.1";
    server_ = std::make_unique<HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    handler_.AnswerHeld("late");
    server_.reset();
  }

  HoldingHandler handler_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpCancelTest, EveryRequestGetsItsOwnSignal) {
  Socket client(port_);
  client.Send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.requests() == 2; }));
  ASSERT_NE(handler_.signal(0), nullptr);
  ASSERT_NE(handler_.signal(1), nullptr);
  EXPECT_NE(handler_.signal(0), handler_.signal(1));
}

TEST_F(HttpCancelTest, ClientClosingWhileTheHandlerWorksFiresTheSignal) {
  Socket client(port_);
  client.Send("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
  ASSERT_TRUE(Eventually([&] { return handler_.held() == 1; }));
  std::shared_ptr<CancelSignal> signal = handler_.signal(0);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(signal->cancelled()) << "the client is still there";
  client.Close();
  EXPECT_TRUE(Eventually([&] { return signal->cancelled(); }));
  handler_.AnswerHeld("nobody reads this");
  // The server goes on serving.
  Socket next(port_);
  next.Send("GET /next HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(next.ReceiveAll(3s).find("/next"), std::string::npos);
  EXPECT_TRUE(Eventually([&] { return server_->stats().requests_in_flight == 0; }));
}

TEST_F(HttpCancelTest, AnsweredRequestIsNotCancelledByALaterClose) {
  Socket client(port_);
  client.Send("GET /quick HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.requests() == 1; }));
  EXPECT_NE(client.ReceiveAll(300ms).find("/quick"), std::string::npos);
  client.Close();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(handler_.signal(0)->cancelled());
}

TEST_F(HttpCancelTest, PipelinedRequestMeansTheClientIsStillThere) {
  Socket client(port_);
  client.Send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.held() == 1; }));
  // The next request, then a half close: the client waits for both answers.
  client.Send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  client.ShutdownWrite();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(handler_.signal(0)->cancelled());
  handler_.AnswerHeld("first");
  const std::string answers = client.ReceiveAll(3s);
  EXPECT_NE(answers.find("first"), std::string::npos) << answers;
  EXPECT_NE(answers.find("/second"), std::string::npos) << answers;
}

TEST_F(HttpCancelTest, CancelInFlightFiresHeldRequestsWhoseAnswersAreStillWritten) {
  Socket client(port_);
  client.Send("GET /hold HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.held() == 1; }));
  EXPECT_EQ(server_->CancelInFlight(), 1u);
  EXPECT_TRUE(Eventually([&] { return handler_.signal(0)->cancelled(); }));
  handler_.AnswerHeld("cancelled");
  EXPECT_NE(client.ReceiveAll(3s).find("cancelled"), std::string::npos);
}

}  // namespace
}  // namespace stoa::common
