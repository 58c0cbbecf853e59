#include "common/http_server.h"

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
  explicit Client(uint16_t port) : stream_(ioc_) {
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void Send(const std::string& bytes) { asio::write(stream_.socket(), asio::buffer(bytes)); }

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

}  // namespace
}  // namespace stoa::common
