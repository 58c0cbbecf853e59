#include "common/host_port.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using ::testing::HasSubstr;

TEST(HostPortTest, ParsesNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(*ParseHostPort("127.0.0.1:8080"), (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(*ParseHostPort("localhost:0"), (HostPort{"localhost", 0}));
  EXPECT_EQ(*ParseHostPort("0.0.0.0:65535"), (HostPort{"0.0.0.0", 65535}));
  EXPECT_EQ(*ParseHostPort("[::1]:50051"), (HostPort{"::1", 50051}));
  EXPECT_EQ(*ParseHostPort("[fe80::1%eth0]:9"), (HostPort{"fe80::1%eth0", 9}));
}

// What went wrong, with the address as given, so a flag error is clear.
std::string Error(std::string_view address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << address;
  return std::string(parsed.status().message());
}

TEST(HostPortTest, RefusesMalformedAddressesSayingWhy) {
  EXPECT_THAT(Error("nonsense"), HasSubstr("'nonsense' (no port)"));
  EXPECT_THAT(Error(""), HasSubstr("no port"));
  EXPECT_THAT(Error(":8080"), HasSubstr("empty host"));
  EXPECT_THAT(Error("[]:8080"), HasSubstr("empty host"));
  EXPECT_THAT(Error("[::1:8080"), HasSubstr("unclosed '['"));
  EXPECT_THAT(Error("[::1]8080"), HasSubstr("no port after ']'"));
  EXPECT_THAT(Error("[::1]"), HasSubstr("no port after ']'"));
  EXPECT_THAT(Error("::1:8080"), HasSubstr("needs brackets"));
  for (const char* bad : {"h:", "h:70000", "h:123456", "h:-1", "h:+80", "h: 80", "h:8o"}) {
    EXPECT_THAT(Error(bad), HasSubstr("port not in 0..65535")) << bad;
  }
  EXPECT_THAT(Error("h:x"), HasSubstr("expected HOST:PORT, got 'h:x'"));
}

TEST(HostPortTest, FormatBracketsIpv6AndRoundTrips) {
  EXPECT_EQ(FormatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(FormatHostPort("::1", 0), "[::1]:0");
  EXPECT_EQ(FormatHostPort(HostPort{"localhost", 9}), "localhost:9");
  for (const char* address : {"10.1.2.3:50051", "[::]:8080", "example.org:1"}) {
    EXPECT_EQ(FormatHostPort(*ParseHostPort(address)), address);
  }
}

TEST(IsLoopbackListenTest, OnlyAddressesThatStayOnThisMachine) {
  for (const char* loopback : {"127.0.0.1:0", "127.1.2.3:50051", "localhost:80", "LOCALHOST:1",
                               "[::1]:0", "[::ffff:127.0.0.1]:9", "unix:/tmp/x.sock"}) {
    EXPECT_TRUE(IsLoopbackListen(loopback)) << loopback;
  }
  for (const char* open : {"0.0.0.0:50051", "[::]:0", "10.0.0.1:1", "128.0.0.1:1", "example.com:80",
                           "[::ffff:10.0.0.1]:9", "no-port", ""}) {
    EXPECT_FALSE(IsLoopbackListen(open)) << open;
  }
}

}  // namespace
}  // namespace stoa::common
