#include "tools/http_client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tools/rest_commands.h"

namespace stoa::tools {
namespace {

TEST(HttpUrlTest, ParsesHostPortAndPrefix) {
  auto u = HttpUrl::Parse("http://127.0.0.1:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->prefix, "");
  u = HttpUrl::Parse("http://[::1]:8080/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->HostPort(), "[::1]:8080");
  u = HttpUrl::Parse("localhost:9/api/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->HostPort(), "localhost:9");
  EXPECT_EQ(u->prefix, "/api");
}

TEST(HttpUrlTest, RejectsWhatItCannotReach) {
  for (const char* bad : {"ftp://x:1", "https://nohost", "http://nohost", "http://h:0",
                          "http://h:99999", "http://h:ab", ":80"}) {
    auto u = HttpUrl::Parse(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_NE(u.status().message().find(bad), std::string::npos);
    }
  }
}

TEST(HttpConnectionTest, RefusedConnectionIsUnavailable) {
  // Port 1 on loopback is closed on any sane machine.
  HttpConnection conn(*HttpUrl::Parse("http://127.0.0.1:1"), 1000);
  auto res = conn.Request("GET", "/healthz");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable);
  std::ostringstream out, err;
  EXPECT_EQ(ListFunctions(conn, out, err), 1);
  EXPECT_NE(err.str().find("connect"), std::string::npos);
  EXPECT_NE(err.str().find("refused"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace stoa::tools
