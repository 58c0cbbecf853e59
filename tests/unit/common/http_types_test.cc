#include "common/http_types.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

HttpRequest Parsed(const std::string& target) {
  HttpRequest request;
  absl::Status status = ParseTarget(target, &request);
  EXPECT_TRUE(status.ok()) << target << ": " << status;
  return request;
}

TEST(ParseTargetTest, DecodesPathAndQuery) {
  HttpRequest r = Parsed("/v1/fn%20x/a%2Fb+c?x=1&y=hello+world&x=2&flag&&e=%3D%26#frag");
  EXPECT_EQ(r.path, "/v1/fn x/a/b+c");  // '+' is a space only in the query
  EXPECT_THAT(r.query,
              UnorderedElementsAre(Pair("x", "1"), Pair("x", "2"), Pair("y", "hello world"),
                                   Pair("flag", ""), Pair("e", "=&")));
  EXPECT_EQ(r.Query("y"), "hello world");
  EXPECT_EQ(r.Query("missing"), "");
}

TEST(ParseTargetTest, AbsoluteFormAndAsterisk) {
  EXPECT_EQ(Parsed("http://host:8080/v1/x?a=b").path, "/v1/x");
  EXPECT_EQ(Parsed("https://host").path, "/");
  HttpRequest query_only = Parsed("http://host?a=b");
  EXPECT_EQ(query_only.path, "/");
  EXPECT_EQ(query_only.Query("a"), "b");
  EXPECT_EQ(Parsed("*").path, "*");
}

TEST(ParseTargetTest, MalformedTargetsNameThePart) {
  HttpRequest r;
  EXPECT_THAT(std::string(ParseTarget("/a%2", &r).message()),
              HasSubstr("percent-encoding in path"));
  EXPECT_THAT(std::string(ParseTarget("/a?x=%zz", &r).message()),
              HasSubstr("percent-encoding in query"));
  EXPECT_THAT(std::string(ParseTarget("/a%00", &r).message()), HasSubstr("NUL byte in path"));
  EXPECT_THAT(std::string(ParseTarget("relative", &r).message()), HasSubstr("does not start"));
  EXPECT_THAT(std::string(ParseTarget("?q", &r).message()), HasSubstr("empty path"));
}

TEST(HttpRequestTest, HeaderIsTheFirstValueOrEmpty) {
  HttpRequest r;
  r.headers.emplace("x-a", "1");
  r.headers.emplace("x-a", "2");
  EXPECT_EQ(r.Header("x-a"), "1");
  EXPECT_EQ(r.Header("x-b"), "");
}

}  // namespace
}  // namespace stoa::common
