#include "common/listen_socket.h"

#include <string>

#include "boost/asio/io_context.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using tcp = boost::asio::ip::tcp;
using ::testing::HasSubstr;

TEST(ListenOnTest, PortZeroPicksAFreePort) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io);
  ASSERT_TRUE(ListenOn(acceptor, HostPort{"127.0.0.1", 0}).ok());
  EXPECT_TRUE(acceptor.is_open());
  EXPECT_GT(acceptor.local_endpoint().port(), 0);
  EXPECT_EQ(acceptor.local_endpoint().address().to_string(), "127.0.0.1");
}

TEST(ListenOnTest, ATakenPortIsUnavailableNamingAddressAndStep) {
  boost::asio::io_context io;
  tcp::acceptor first(io);
  ASSERT_TRUE(ListenOn(first, HostPort{"127.0.0.1", 0}).ok());
  const uint16_t port = first.local_endpoint().port();
  tcp::acceptor second(io);
  absl::Status taken = ListenOn(second, HostPort{"127.0.0.1", port});
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(taken.message()),
              HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(port) + ": bind: "));
  EXPECT_FALSE(second.is_open());
}

TEST(ListenOnTest, AHostThatIsNotAnAddressIsResolved) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io);
  ASSERT_TRUE(ListenOn(acceptor, HostPort{"localhost", 0}).ok());
  EXPECT_TRUE(acceptor.local_endpoint().address().is_loopback());
}

}  // namespace
}  // namespace stoa::common
