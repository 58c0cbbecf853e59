#include "tools/rest_commands.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace stoa::tools {
namespace {

TEST(RestCommandsTest, MultipartBodyHasBothParts) {
  const std::string body = MultipartBody("B", "{\"name\":\"f\"}", std::string("\0\1", 2));
  EXPECT_EQ(body.rfind("--B\r\n", 0), 0u);
  EXPECT_NE(body.find("name=\"spec\"\r\nContent-Type: application/json\r\n\r\n{\"name\":\"f\"}"),
            std::string::npos);
  EXPECT_NE(body.find(std::string("\r\n\r\n\0\1\r\n--B--\r\n", 12)), std::string::npos);
}

TEST(RestCommandsTest, InlineOrFile) {
  EXPECT_EQ(*InlineOrFile("{\"a\":1}"), "{\"a\":1}");
  const std::string path = ::testing::TempDir() + "/stoa_cli_inline.json";
  std::ofstream(path) << "{\"b\":2}";
  EXPECT_EQ(*InlineOrFile("@" + path), "{\"b\":2}");
  auto missing = InlineOrFile("@/nonexistent/x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/x"), std::string::npos);
}

}  // namespace
}  // namespace stoa::tools
