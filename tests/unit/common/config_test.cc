#include "common/config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common {
namespace {

using ::testing::ElementsAre;

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigTest, YamlBecomesFlagsBeforeTheCommandLine) {
  std::string path = WriteTemp("gw.yaml", "listen: 127.0.0.1:9000\ncloud: [a:1, b:2]\n");
  std::string config_flag = "--config=" + path;
  const char* argv[] = {"stoa-gateway", config_flag.c_str(), "--listen", "127.0.0.1:0"};
  auto args = ExpandConfigArgs(4, argv);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args, ElementsAre("stoa-gateway", "--listen", "127.0.0.1:9000", "--cloud", "a:1,b:2",
                                 "--listen", "127.0.0.1:0"));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  const char* argv[] = {"x", "--config", "/nonexistent/stoa.yaml"};
  auto args = ExpandConfigArgs(3, argv);
  EXPECT_EQ(args.status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, NestedMappingIsRejectedNamingTheKey) {
  std::string path = WriteTemp("bad.yaml", "listen:\n  host: x\n");
  auto args = ConfigFileToArgs(path);
  ASSERT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(args.status().message()), ::testing::HasSubstr("'listen'"));
}

TEST(ConfigTest, MalformedYamlIsInvalidArgument) {
  std::string path = WriteTemp("broken.yaml", "listen: [unclosed\n");
  EXPECT_EQ(ConfigFileToArgs(path).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stoa::common
