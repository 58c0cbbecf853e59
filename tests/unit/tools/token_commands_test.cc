// `stoa tokens create` (tools/token_commands.h): a random token printed once,
// then an auth-file entry whose sha256 is the SHA-256 of that token.
#include "tools/token_commands.h"

#include <set>
#include <sstream>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace stoa::tools {
namespace {

TEST(TokenCommandsTest, TokensAreRandomBase64UrlWithAPrefix) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::string> token = NewToken();
    ASSERT_TRUE(token.ok());
    ASSERT_EQ(token->size(), 5u + 43u) << *token;  // 32 bytes in base64url, no padding
    EXPECT_EQ(token->rfind("stoa_", 0), 0u);
    EXPECT_EQ(token->find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 5),
              std::string::npos)
        << *token;
    seen.insert(*token);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(TokenCommandsTest, PrintsTheTokenThenAnEntryWithItsDigest) {
  TokenRequest request{"invoker", "acme", {"digits", "anomaly-*"}, "edge-7"};
  std::ostringstream out, err;
  ASSERT_EQ(CreateToken(request, out, err), 0) << err.str();
  const std::string text = out.str();
  const size_t newline = text.find('\n');
  const std::string token = text.substr(0, newline);
  EXPECT_EQ(token.rfind("stoa_", 0), 0u);
  EXPECT_EQ(err.str().find(token), std::string::npos) << "the token is printed once";
  EXPECT_EQ(text.find(token, 1), std::string::npos) << "the token is printed once";

  const YAML::Node file = YAML::Load("tokens:\n" + text.substr(newline + 1));
  ASSERT_TRUE(file["tokens"].IsSequence());
  ASSERT_EQ(file["tokens"].size(), 1u);
  const YAML::Node entry = file["tokens"][0];
  EXPECT_EQ(entry["sha256"].as<std::string>(), common::Sha256Hex(token));
  EXPECT_EQ(entry["name"].as<std::string>(), "edge-7");
  EXPECT_EQ(entry["role"].as<std::string>(), "invoker");
  EXPECT_EQ(entry["tenant"].as<std::string>(), "acme");
  EXPECT_EQ(entry["functions"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"digits", "anomaly-*"}));
}

TEST(TokenCommandsTest, DefaultNameAndNoOptionalFields) {
  std::ostringstream out, err;
  ASSERT_EQ(CreateToken(TokenRequest{"admin", "", {}, ""}, out, err), 0);
  const std::string text = out.str();
  const std::string token = text.substr(0, text.find('\n'));
  const YAML::Node entry = YAML::Load("tokens:\n" + text.substr(text.find('\n') + 1))["tokens"][0];
  EXPECT_EQ(entry["name"].as<std::string>(), "admin-" + common::Sha256Hex(token).substr(0, 8));
  EXPECT_FALSE(entry["tenant"]);
  EXPECT_FALSE(entry["functions"]);
}

TEST(TokenCommandsTest, RefusesWhatTheAuthFileWouldRefuse) {
  const std::vector<std::pair<TokenRequest, std::string>> bad = {
      {{"root", "", {}, ""}, "--role 'root'"},
      {{"admin", "Acme", {}, ""}, "--tenant 'Acme'"},
      {{"admin", "", {}, "bad name"}, "--name 'bad name'"},
      {{"developer", "", {"digits"}, ""}, "--functions limits invokers only"},
      {{"invoker", "", {"a\"b"}, ""}, "--functions 'a\"b'"},
  };
  for (const auto& [request, message] : bad) {
    std::ostringstream out, err;
    EXPECT_EQ(CreateToken(request, out, err), 2) << message;
    EXPECT_EQ(out.str(), "") << "no token for a bad request";
    EXPECT_NE(err.str().find(message), std::string::npos) << err.str();
  }
}

}  // namespace
}  // namespace stoa::tools
