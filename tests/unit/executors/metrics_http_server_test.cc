#include "executors/metrics_http_server.h"

#include <atomic>
#include <string>

#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::executors {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using ::testing::HasSubstr;

// One keep-alive connection; returns the responses to GETs of `targets`.
std::vector<http::response<http::string_body>> Get(int port, std::vector<std::string> targets,
                                                   http::verb verb = http::verb::get) {
  boost::asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  std::vector<http::response<http::string_body>> responses;
  beast::flat_buffer buffer;
  for (const std::string& target : targets) {
    http::request<http::empty_body> request(verb, target, 11);
    request.set(http::field::host, "localhost");
    request.keep_alive(true);
    http::write(socket, request);
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    responses.push_back(std::move(response));
  }
  return responses;
}

TEST(MetricsHttpServerTest, ServesMetricsHealthAndErrors) {
  std::atomic<int> renders{0};
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&] {
    ++renders;
    return std::string("# TYPE stoa_x counter\nstoa_x 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto responses = Get((*server)->port(), {"/metrics", "/healthz", "/nope", "/metrics?x=1"});
  ASSERT_EQ(responses.size(), 4u);
  EXPECT_EQ(responses[0].result(), http::status::ok);
  EXPECT_EQ(responses[0].body(), "# TYPE stoa_x counter\nstoa_x 1\n");
  EXPECT_THAT(std::string(responses[0][http::field::content_type]), HasSubstr("version=0.0.4"));
  EXPECT_EQ(responses[1].result(), http::status::ok);
  EXPECT_EQ(responses[2].result(), http::status::not_found);
  EXPECT_EQ(responses[3].result(), http::status::ok);
  EXPECT_EQ(renders.load(), 2);

  auto post = Get((*server)->port(), {"/metrics"}, http::verb::post);
  EXPECT_EQ(post[0].result(), http::status::method_not_allowed);
}

TEST(MetricsHttpServerTest, BadAddressesAreRefused) {
  auto render = [] { return std::string(); };
  EXPECT_EQ(MetricsHttpServer::Start("nonsense", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1:70000", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsHttpServer::Start("127.0.0.1:0", render);
  ASSERT_TRUE(first.ok());
  auto taken = MetricsHttpServer::Start((*first)->address(), render);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace stoa::executors
