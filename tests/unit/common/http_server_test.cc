#include "common/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace stoa::common {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using Response = http::response<http::string_body>;
using namespace std::chrono_literals;

// Echoes the request as JSON. /slow answers from another thread after
// 100 ms; /hold keeps the responder until the test releases it.
class TestHandler : public HttpHandler {
 public:
  ~TestHandler() override {
    for (std::thread& t : threads_) t.join();
  }

  void Handle(HttpRequest request, HttpResponder respond) override {
    calls_.fetch_add(1);
    if (request.path == "/slow") {
      absl::MutexLock lock(&mu_);
      threads_.emplace_back([respond] {
        std::this_thread::sleep_for(100ms);
        HttpResponse response;
        response.content_type = "text/plain";
        response.body = "slow";
        respond(std::move(response));
      });
      return;
    }
    if (request.path == "/hold") {
      absl::MutexLock lock(&mu_);
      held_ = respond;
      return;
    }
    if (request.path == "/nocontent") {
      HttpResponse response;
      response.status = 204;
      respond(std::move(response));
      return;
    }
    nlohmann::json echo;
    echo["method"] = request.method;
    echo["target"] = request.target;
    echo["path"] = request.path;
    echo["body"] = request.body;
    echo["x_test"] = request.Header("x-test");
    nlohmann::json query = nlohmann::json::array();
    for (const auto& [k, v] : request.query) query.push_back({k, v});
    echo["query"] = query;
    HttpResponse response;
    response.status = request.Query("status").empty() ? 200 : std::stoi(request.Query("status"));
    response.body = echo.dump();
    response.headers.emplace_back("X-Echo", "yes");
    // Headers that would break framing or inject lines must be dropped.
    response.headers.emplace_back("Content-Length", "9999");
    response.headers.emplace_back("X-Injected", "a\r\nX-Evil: 1");
    respond(std::move(response));
  }

  HttpResponder TakeHeld() {
    absl::MutexLock lock(&mu_);
    return std::move(held_);
  }
  bool HasHeld() {
    absl::MutexLock lock(&mu_);
    return static_cast<bool>(held_);
  }
  int calls() const { return calls_.load(); }

 private:
  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  HttpResponder held_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> calls_{0};
};

// A blocking client with timeouts: every operation runs the client's own
// io_context until it completes or its deadline closes the socket.
class Client {
 public:
  explicit Client(uint16_t port, const std::string& from = "") : stream_(ioc_) {
    if (!from.empty()) {
      // Another loopback address as the source: another client to the server.
      stream_.socket().open(tcp::v4());
      stream_.socket().bind(tcp::endpoint(asio::ip::make_address(from), 0));
    }
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void Send(const std::string& bytes) { asio::write(stream_.socket(), asio::buffer(bytes)); }
  void Shutdown() { stream_.socket().shutdown(tcp::socket::shutdown_send); }

  beast::error_code Read(Response& response, std::chrono::milliseconds timeout = 5000ms,
                         bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(timeout);
    http::async_read(stream_, buffer_, parser, [&](beast::error_code ec, size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    if (!result) response = parser.release();
    return result;
  }

  Response Request(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& extra_headers = "") {
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers;
    if (!body.empty() || method == "POST") {
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += "\r\n" + body;
    Send(raw);
    Response response;
    beast::error_code ec = Read(response);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }

  // Waits for the server to close the connection; the error seen (eof or
  // reset means closed, timeout means it stayed open).
  beast::error_code WaitClosed(std::chrono::milliseconds timeout) {
    beast::error_code result = asio::error::would_block;
    char byte;
    stream_.expires_after(timeout);
    stream_.async_read_some(asio::buffer(&byte, 1),
                            [&](beast::error_code ec, size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

bool IsClosed(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == http::error::end_of_stream;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServer::Options options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, handler_);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  nlohmann::json Echo(Client& client, const std::string& target) {
    Response response = client.Request("GET", target);
    EXPECT_EQ(response.result_int(), 200);
    return nlohmann::json::parse(response.body());
  }

  TestHandler handler_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpServerTest, DecodesPathQueryHeadersAndBody) {
  StartServer();
  Client client(port_);
  Response response =
      client.Request("POST", "/v1/fn%20x/a%2Fb?x=1&y=hello+world&x=2&flag&&e=%3D%26", "payload",
                     "X-Test: Value\r\n");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response[http::field::server], "stoa");
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
  EXPECT_EQ(response["X-Echo"], "yes");
  EXPECT_EQ(response.count("X-Injected"), 0u);
  EXPECT_EQ(response.count("X-Evil"), 0u);
  auto echo = nlohmann::json::parse(response.body());
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["target"], "/v1/fn%20x/a%2Fb?x=1&y=hello+world&x=2&flag&&e=%3D%26");
  EXPECT_EQ(echo["path"], "/v1/fn x/a/b");
  EXPECT_EQ(echo["body"], "payload");
  EXPECT_EQ(echo["x_test"], "Value");
  EXPECT_EQ(
      echo["query"],
      nlohmann::json::parse(R"([["e","=&"],["flag",""],["x","1"],["x","2"],["y","hello world"]])"));
}

TEST_F(HttpServerTest, MalformedPercentEncodingIs400AndConnectionStaysUsable) {
  StartServer();
  Client client(port_);
  Response bad = client.Request("GET", "/v1/functions/a%zz");
  EXPECT_EQ(bad.result_int(), 400);
  auto error = nlohmann::json::parse(bad.body());
  EXPECT_EQ(error["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(error["error"]["message"].get<std::string>(), HasSubstr("path"));
  Response bad_query = client.Request("GET", "/ok?q=%4");
  EXPECT_EQ(bad_query.result_int(), 400);
  EXPECT_THAT(bad_query.body(), HasSubstr("query"));
  EXPECT_EQ(handler_.calls(), 0);
  EXPECT_EQ(Echo(client, "/ok?q=%41")["query"][0][1], "A");
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  Client client(port_);
  Response first = client.Request("GET", "/one");
  EXPECT_TRUE(first.keep_alive());
  EXPECT_EQ(nlohmann::json::parse(first.body())["path"], "/one");
  Response second = client.Request("POST", "/two", "body2");
  EXPECT_EQ(nlohmann::json::parse(second.body())["body"], "body2");
  EXPECT_EQ(handler_.calls(), 2);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  Client client(port_);
  client.Send(
      "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /fast HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
      "GET /third HTTP/1.1\r\nHost: t\r\n\r\n");
  Response r1, r2, r3;
  ASSERT_FALSE(client.Read(r1));
  ASSERT_FALSE(client.Read(r2));
  ASSERT_FALSE(client.Read(r3));
  EXPECT_EQ(r1.body(), "slow");
  EXPECT_EQ(r1[http::field::content_type], "text/plain");
  auto echo2 = nlohmann::json::parse(r2.body());
  EXPECT_EQ(echo2["path"], "/fast");
  EXPECT_EQ(echo2["body"], "abc");
  EXPECT_EQ(nlohmann::json::parse(r3.body())["path"], "/third");
}

// A Content-Length body is read straight into the request (not through the
// session's buffer): bodies split at odd places, one arriving with the head,
// one with the next pipelined request behind it, and one cut short.
TEST_F(HttpServerTest, LargeBodiesArriveWholeInPiecesAndPipelined) {
  StartServer();
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  const std::string head =
      "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n";
  {
    Client client(port_);
    // The head and the first bytes together, then pieces of odd sizes.
    client.Send(head + big.substr(0, 1000));
    size_t at = 1000;
    for (size_t piece = 1; at < big.size(); piece = piece * 3 + 1) {
      const size_t n = std::min(piece, big.size() - at);
      client.Send(big.substr(at, n));
      at += n;
    }
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(nlohmann::json::parse(response.body())["body"], big);
    // Two bodies and a bodiless request in one write: the second body's
    // bytes and the third request are already buffered when its read starts.
    client.Send(head + big + "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n12345" +
                "GET /third HTTP/1.1\r\nHost: t\r\n\r\n");
    Response r1, r2, r3;
    ASSERT_FALSE(client.Read(r1));
    ASSERT_FALSE(client.Read(r2));
    ASSERT_FALSE(client.Read(r3));
    EXPECT_EQ(nlohmann::json::parse(r1.body())["body"], big);
    EXPECT_EQ(nlohmann::json::parse(r2.body())["body"], "12345");
    EXPECT_EQ(nlohmann::json::parse(r3.body())["path"], "/third");
  }
  {
    // Cut short: no answer, the connection closes, the server serves on.
    Client client(port_);
    client.Send(head + big.substr(0, big.size() / 2));
    client.Shutdown();
    EXPECT_TRUE(IsClosed(client.WaitClosed(5000ms)));
  }
  Client after(port_);
  EXPECT_EQ(Echo(after, "/after")["path"], "/after");
  EXPECT_EQ(handler_.calls(), 5);  // the cut-short request never reached the handler
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndServerKeepsServing) {
  HttpServer::Options options;
  options.body_limit = 1024;
  StartServer(options);
  {
    Client client(port_);
    client.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n" +
                std::string(200000, 'x'));
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.result_int(), 413);
    EXPECT_FALSE(response.keep_alive());
    auto error = nlohmann::json::parse(response.body());
    EXPECT_EQ(error["error"]["code"], "OUT_OF_RANGE");
    EXPECT_EQ(error["error"]["message"], "request body exceeds 1024 bytes");
    EXPECT_TRUE(IsClosed(client.WaitClosed(3000ms)));
  }
  {
    // Chunked bodies are counted as they arrive.
    Client client(port_);
    std::string chunk(800, 'y');
    client.Send("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" +
                chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.result_int(), 413);
  }
  EXPECT_EQ(handler_.calls(), 0);
  Client client(port_);
  Response ok = client.Request("POST", "/small", std::string(1024, 'z'));
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(ok.body())["body"].get<std::string>().size(), 1024u);
}

TEST_F(HttpServerTest, GarbageIs400AndServerKeepsServing) {
  StartServer();
  {
    Client client(port_);
    client.Send(std::string("\x01\x02 garbage\r\n\r\n", 15));
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.result_int(), 400);
    auto error = nlohmann::json::parse(response.body());
    EXPECT_EQ(error["error"]["code"], "INVALID_ARGUMENT");
    EXPECT_THAT(error["error"]["message"].get<std::string>(), HasSubstr("malformed HTTP request"));
    EXPECT_TRUE(IsClosed(client.WaitClosed(3000ms)));
  }
  {
    Client client(port_);
    client.Send("GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n");
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.result_int(), 400);
  }
  EXPECT_EQ(handler_.calls(), 0);
  Client client(port_);
  EXPECT_EQ(Echo(client, "/after")["path"], "/after");
}

TEST_F(HttpServerTest, IdleConnectionIsClosedButSlowHandlerIsNot) {
  HttpServer::Options options;
  options.idle_timeout_ms = 200;
  StartServer(options);
  {
    Client idle(port_);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(IsClosed(idle.WaitClosed(5000ms)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  }
  {
    // Stalled in the middle of a request line.
    Client stalled(port_);
    stalled.Send("GET /x HTTP/1.1\r\nHo");
    EXPECT_TRUE(IsClosed(stalled.WaitClosed(5000ms)));
  }
  {
    // After a response the idle timer runs again.
    Client client(port_);
    EXPECT_EQ(Echo(client, "/a")["path"], "/a");
    EXPECT_TRUE(IsClosed(client.WaitClosed(5000ms)));
  }
  HttpServer::Options slow_options;
  slow_options.idle_timeout_ms = 50;  // shorter than the handler's 100 ms
  server_.reset();
  StartServer(slow_options);
  Client client(port_);
  Response response = client.Request("GET", "/slow");
  EXPECT_EQ(response.body(), "slow");
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAlive) {
  StartServer();
  {
    Client client(port_);
    client.Send("GET /old HTTP/1.0\r\n\r\n");
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_EQ(response.version(), 10);
    EXPECT_EQ(nlohmann::json::parse(response.body())["path"], "/old");
    EXPECT_TRUE(IsClosed(client.WaitClosed(3000ms)));
  }
  {
    Client client(port_);
    client.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(Echo(client, "/again")["path"], "/again");
  }
  {
    Client client(port_);
    client.Send("GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    Response response;
    ASSERT_FALSE(client.Read(response));
    EXPECT_FALSE(response.keep_alive());
    EXPECT_TRUE(IsClosed(client.WaitClosed(3000ms)));
  }
}

TEST_F(HttpServerTest, ExpectContinueHeadAndNoContent) {
  StartServer();
  Client client(port_);
  client.Send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  Response interim;
  ASSERT_FALSE(client.Read(interim));
  EXPECT_EQ(interim.result_int(), 100);
  client.Send("hello");
  Response final_response;
  ASSERT_FALSE(client.Read(final_response));
  EXPECT_EQ(nlohmann::json::parse(final_response.body())["body"], "hello");

  client.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
  Response head;
  ASSERT_FALSE(client.Read(head, 5000ms, /*head=*/true));
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_NE(head[http::field::content_length], "0");
  EXPECT_TRUE(head.body().empty());

  Response none = client.Request("GET", "/nocontent");
  EXPECT_EQ(none.result_int(), 204);
  EXPECT_TRUE(none.body().empty());
  EXPECT_EQ(none.count(http::field::content_length), 0u);
  // The connection is still in sync after HEAD and 204.
  EXPECT_EQ(Echo(client, "/last")["path"], "/last");
  Response status = client.Request("GET", "/s?status=404");
  EXPECT_EQ(status.result_int(), 404);
}

TEST_F(HttpServerTest, ConcurrentClients) {
  HttpServer::Options options;
  options.threads = 4;
  StartServer(options);
  constexpr int kThreads = 8;
  constexpr int kRequests = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client(port_);
      for (int i = 0; i < kRequests; ++i) {
        const std::string body = absl::StrCat("t", t, "-", i);
        Response response = client.Request("POST", "/c?i=" + std::to_string(i), body);
        auto echo = nlohmann::json::parse(response.body(), nullptr, false);
        if (response.result_int() == 200 && echo["body"] == body &&
            echo["query"][0][1] == std::to_string(i)) {
          ok.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

TEST_F(HttpServerTest, ServerNameAndBoundAddress) {
  HttpServer::Options options;
  options.server_name = "stoa-test";
  StartServer(options);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port_));
  Client client(port_);
  EXPECT_EQ(client.Request("GET", "/x")[http::field::server], "stoa-test");
}

TEST_F(HttpServerTest, BindFailureNamesTheAddress) {
  StartServer();
  HttpServer::Options options;
  options.host = "127.0.0.1";
  options.port = port_;
  HttpServer second(options, handler_);
  auto result = second.Start();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(port_)));
  // The first server is unaffected.
  Client client(port_);
  EXPECT_EQ(Echo(client, "/still")["path"], "/still");
}

TEST_F(HttpServerTest, StopWithPendingRequestsAndLateResponder) {
  StartServer();
  Client holder(port_);
  holder.Send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  Client idle(port_);
  for (int i = 0; i < 200 && !handler_.HasHeld(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(handler_.HasHeld());
  server_->Stop();
  server_->Stop();  // twice is fine
  EXPECT_TRUE(IsClosed(holder.WaitClosed(3000ms)));
  server_.reset();
  // A response arriving after the server is gone is dropped quietly.
  HttpResponder late = handler_.TakeHeld();
  HttpResponse response;
  response.body = "late";
  late(std::move(response));
}

// Polls `done` every 10 ms for up to `timeout`.
template <typename F>
bool Eventually(F done, std::chrono::milliseconds timeout = 3000ms) {
  for (auto end = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < end; std::this_thread::sleep_for(10ms)) {
    if (done()) return true;
  }
  return done();
}

TEST_F(HttpServerTest, ConnectionsOverTheGlobalCapAreClosedAtOnce) {
  HttpServer::Options options;
  options.max_connections = 2;
  StartServer(options);
  EXPECT_EQ(server_->max_connections(), 2);
  auto first = std::make_unique<Client>(port_);
  Client second(port_);
  EXPECT_EQ(Echo(*first, "/1")["path"], "/1");
  EXPECT_EQ(Echo(second, "/2")["path"], "/2");
  {
    Client third(port_);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(IsClosed(third.WaitClosed(3000ms)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  }
  EXPECT_EQ(server_->stats().refused_connections, 1u);
  EXPECT_EQ(server_->stats().connections, 2u);
  // The admitted ones keep working; a closed one frees its slot.
  EXPECT_EQ(Echo(second, "/again")["path"], "/again");
  first.reset();
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections == 1; }));
  Client fourth(port_);
  EXPECT_EQ(Echo(fourth, "/4")["path"], "/4");
}

TEST_F(HttpServerTest, PerClientCapLeavesOtherClientsServed) {
  HttpServer::Options options;
  options.max_connections = 100;
  options.max_connections_per_client = 2;
  StartServer(options);
  Client a1(port_), a2(port_);
  EXPECT_EQ(Echo(a1, "/a1")["path"], "/a1");
  EXPECT_EQ(Echo(a2, "/a2")["path"], "/a2");
  {
    Client a3(port_);
    EXPECT_TRUE(IsClosed(a3.WaitClosed(3000ms)));
  }
  // Another address (127.0.0.2 is loopback too) is another client.
  Client b1(port_, "127.0.0.2");
  EXPECT_EQ(Echo(b1, "/b1")["path"], "/b1");
  EXPECT_EQ(server_->stats().refused_connections, 1u);
}

// A raw socket, so that the test can trickle bytes and notice the close
// without a blocking read.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // What arrives within `timeout` (up to 4 KiB), "" on none.
  std::string Receive(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // True once the peer closed (EOF or reset); never blocks.
  bool Closed() {
    char byte;
    ssize_t n = recv(fd_, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

 private:
  int fd_;
  bool connected_ = false;
};

TEST_F(HttpServerTest, HeaderTimeoutCutsOffASlowlorisThatKeepsSending) {
  HttpServer::Options options;
  options.header_timeout_ms = 300;
  options.idle_timeout_ms = 30000;
  StartServer(options);
  RawSocket loris(port_);
  ASSERT_TRUE(loris.connected());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(loris.Send("GET /slow-headers HTTP/1.1\r\nHost: t\r\n"));
  bool closed = false;
  // A header line every 50 ms: never idle, never complete.
  for (int i = 0; i < 100 && !closed; ++i) {
    std::this_thread::sleep_for(50ms);
    closed = loris.Closed() || !loris.Send("X-" + std::to_string(i) + ": y\r\n");
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2000ms);
  EXPECT_EQ(handler_.calls(), 0);
  // A prompt request on a connection idle for longer than the header timeout
  // is served: the header timer starts with the request.
  Client client(port_);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(Echo(client, "/prompt")["path"], "/prompt");
}

TEST_F(HttpServerTest, DrainRefusesNewConnectionsAndFinishesRequestsInFlight) {
  StartServer();
  Client idle(port_);
  EXPECT_EQ(Echo(idle, "/warm")["path"], "/warm");
  Client holder(port_);
  holder.Send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.HasHeld(); }));
  EXPECT_EQ(server_->stats().requests_in_flight, 1u);
  std::thread release([&] {
    std::this_thread::sleep_for(300ms);
    HttpResponse response;
    response.body = "done";
    handler_.TakeHeld()(std::move(response));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server_->Drain(5000), 0u);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  release.join();
  EXPECT_GE(elapsed, 250ms);  // it waited for the held request
  EXPECT_LT(elapsed, 3000ms);
  Response response;
  ASSERT_FALSE(holder.Read(response));
  EXPECT_EQ(response.body(), "done");
  EXPECT_FALSE(response.keep_alive());  // Connection: close
  EXPECT_TRUE(IsClosed(idle.WaitClosed(1000ms)));
  // The listening socket is closed: a new connection is refused.
  asio::io_context ioc;
  tcp::socket late(ioc);
  beast::error_code ec;
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
  EXPECT_EQ(server_->stats().connections, 0u);
}

TEST_F(HttpServerTest, DrainTimesOutOnAHeldRequestAndStopClosesIt) {
  StartServer();
  Client holder(port_);
  holder.Send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return handler_.HasHeld(); }));
  EXPECT_EQ(server_->Drain(200), 1u);
  server_->Stop();
  EXPECT_TRUE(IsClosed(holder.WaitClosed(3000ms)));
}

// Out of file descriptors, the accept loop backs off (10 ms doubling to 1 s)
// rather than spinning, and recovers when descriptors are freed. Runs in a
// child process (a death test) whose RLIMIT_NOFILE is lowered.
void AcceptUnderDescriptorExhaustion() {
  TestHandler handler;
  HttpServer::Options options;
  options.host = "127.0.0.1";
  options.threads = 1;
  options.max_connections = 1000;  // the descriptor limit bites first
  options.max_connections_per_client = 0;
  HttpServer server(options, handler);
  auto port = server.Start();
  if (!port.ok()) _exit(10);
  // Room for a handful of descriptors beyond those open now, all taken by
  // fillers but one: our client takes it, and the server's accept fails.
  int highest = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) highest = fd;
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = static_cast<rlim_t>(highest + 8);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(11);
  std::vector<int> fillers;
  for (int fd = open("/dev/null", O_RDONLY); fd >= 0; fd = open("/dev/null", O_RDONLY)) {
    fillers.push_back(fd);
  }
  if (fillers.empty()) _exit(12);
  close(fillers.back());
  fillers.pop_back();
  RawSocket client(*port);
  if (!client.connected()) _exit(13);
  if (!Eventually([&] { return server.stats().accept_errors > 0; })) _exit(14);
  std::this_thread::sleep_for(1000ms);
  // 10+20+40+...+640 ms: about 8 retries in the first 1.3 s; a spinning loop
  // would fail thousands of times.
  const uint64_t errors = server.stats().accept_errors;
  if (errors > 12) _exit(15);
  for (int fd : fillers) close(fd);
  // The pending connection is accepted at the next retry (at most 1 s) and
  // served.
  if (!client.Send("GET /after HTTP/1.1\r\nHost: t\r\n\r\n")) _exit(16);
  if (client.Receive(3000ms).rfind("HTTP/1.1 200", 0) != 0) _exit(17);
  _exit(server.stats().accept_errors - errors < 5 ? 0 : 18);
}

TEST(HttpServerAcceptTest, AcceptErrorsBackOffAndRecover) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(AcceptUnderDescriptorExhaustion(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace stoa::common
