#include "gateway/auth/auth_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "common/sha256.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/unit/gateway/auth/auth_test_util.h"

namespace stoa::gateway::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kOps = common::Sha256Hex("ops-token");
const std::string kDev = common::Sha256Hex("dev-token");

absl::StatusOr<AuthTable> Parse(const std::string& text) {
  return ParseAuthYaml(text, "auth file t.yaml");
}

// The error for `text`, which must be INVALID_ARGUMENT.
std::string ErrorOf(const std::string& text) {
  auto table = Parse(text);
  EXPECT_FALSE(table.ok()) << text;
  if (table.ok()) return "";
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(table.status().message());
}

TEST(AuthFileTest, ParsesEntriesWithEveryField) {
  auto table = Parse(
      "tokens:\n"
      "  - name: ops\n"
      "    sha256: " +
      kOps +
      "\n"
      "    role: admin\n"
      "  - name: dev1\n"
      "    sha256: " +
      kDev +
      "\n"
      "    role: invoker\n"
      "    tenant: acme\n"
      "    functions: [\"digits\", \"anomaly-*\"]\n"
      "    rate_limit: {per_second: 5, burst: 10}\n"
      "  - name: sensor-7\n"
      "    certificate: device\n"
      "    role: invoker\n");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->entries.size(), 3u);
  const AuthEntry& ops = table->entries[table->by_sha256.at(kOps)];
  EXPECT_EQ(ops.identity.name, "ops");
  EXPECT_EQ(ops.identity.role, Role::kAdmin);
  EXPECT_EQ(ops.line, 2);
  const AuthEntry& dev = table->entries[table->by_sha256.at(kDev)];
  EXPECT_EQ(dev.identity.tenant, "acme");
  EXPECT_EQ(dev.identity.functions, (std::vector<std::string>{"digits", "anomaly-*"}));
  EXPECT_EQ(dev.identity.rate_limit, (RateLimit{5, 10}));
  const AuthEntry& sensor = table->entries[table->by_certificate.at("device")];
  EXPECT_EQ(sensor.identity.name, "sensor-7");
  EXPECT_TRUE(sensor.sha256.empty());
  EXPECT_FALSE(table->by_sha256.contains(common::Sha256Hex("unknown")));
}

TEST(AuthFileTest, EmptyFileIsValidAndLetsNoOneIn) {
  auto table = Parse("");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->entries.empty());
  EXPECT_TRUE(Parse("tokens: []\n").ok());
}

TEST(AuthFileTest, RoleRateLimitsApplyToEntriesWithoutTheirOwn) {
  auto table = Parse(
      "rate_limits:\n"
      "  invoker: {per_second: 100, burst: 200}\n"
      "  operator: {per_second: 1}\n"
      "tokens:\n"
      "  - {name: a, sha256: " +
      kOps +
      ", role: invoker}\n"
      "  - {name: b, sha256: " +
      kDev +
      ", role: invoker,"
      " rate_limit: {per_second: 3}}\n"
      "  - {name: c, certificate: x, role: admin}\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->entries[0].identity.rate_limit, (RateLimit{100, 200}));
  EXPECT_EQ(table->entries[1].identity.rate_limit, (RateLimit{3, 0}));
  EXPECT_FALSE(table->entries[2].identity.rate_limit.limited());
  EXPECT_EQ(table->RoleLimit(Role::kOperator), (RateLimit{1, 0}));
}

TEST(AuthFileTest, EachMistakeIsRefusedNamingTheLine) {
  const std::string head = "tokens:\n  - name: ops\n    role: admin\n";
  EXPECT_THAT(ErrorOf(head + "    sha256: " + kOps + "\n    colour: red\n"),
              AllOf(HasSubstr("t.yaml line 5"), HasSubstr("unknown key \"colour\"")));
  EXPECT_THAT(ErrorOf(head + "    sha256: ABC\n"),
              AllOf(HasSubstr("line 4"), HasSubstr("64 lower-case hex")));
  EXPECT_THAT(ErrorOf(head + "    sha256: " + std::string(64, 'F') + "\n"),
              HasSubstr("64 lower-case hex"));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: ops, sha256: " + kOps + ", role: root}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("role must be one of")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + kOps +
                      ", role: admin}\n"
                      "  - {name: a, sha256: " +
                      kDev + ", role: admin}\n"),
              AllOf(HasSubstr("line 3"), HasSubstr("name \"a\" is used twice (first on line 2)")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + kOps +
                      ", role: admin}\n"
                      "  - {name: b, sha256: " +
                      kOps + ", role: admin}\n"),
              AllOf(HasSubstr("line 3"), HasSubstr("same sha256 as the entry on line 2")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, certificate: d, role: admin}\n"
                      "  - {name: b, certificate: d, role: invoker}\n"),
              AllOf(HasSubstr("line 3"), HasSubstr("certificate \"d\" is named twice")));
  EXPECT_THAT(
      ErrorOf("tokens:\n  - {name: a, sha256: " + kOps + ", role: developer, functions: [x]}\n"),
      AllOf(HasSubstr("line 2"), HasSubstr("functions applies only to role invoker")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + kOps + ", role: admin, tenant: Acme}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("tenant")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, role: admin}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("needs sha256 or certificate")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {sha256: " + kOps + ", role: admin}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("has no name")));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + kOps + "}\n"), HasSubstr("has no role"));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: 'a b', sha256: " + kOps + ", role: admin}\n"),
              HasSubstr("name must match"));
  EXPECT_THAT(ErrorOf("users: []\n"),
              AllOf(HasSubstr("line 1"), HasSubstr("unknown key \"users\"")));
  EXPECT_THAT(ErrorOf("tokens: {name: a}\n"), HasSubstr("tokens must be a list"));
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + kOps + ", role: admin, role: invoker}\n"),
              HasSubstr("appears twice"));
  EXPECT_THAT(ErrorOf("tokens: [\n"), AllOf(HasSubstr("t.yaml line"), HasSubstr("not valid YAML")));
}

TEST(AuthFileTest, BadRateLimitsAreRefused) {
  EXPECT_THAT(ErrorOf("rate_limits:\n  invoker: {per_second: -1}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("per_second must be >= 0")));
  EXPECT_THAT(ErrorOf("rate_limits:\n  invoker: {per_second: 5, burst: 0.5}\n"),
              HasSubstr("burst must be >= 1"));
  EXPECT_THAT(ErrorOf("rate_limits:\n  invoker: {per_second: fast}\n"),
              HasSubstr("per_second must be a number"));
  EXPECT_THAT(ErrorOf("rate_limits:\n  root: {per_second: 1}\n"),
              HasSubstr("unknown key \"root\""));
  EXPECT_THAT(ErrorOf("rate_limits:\n  invoker: {burst: 3}\n"), HasSubstr("needs per_second"));
  EXPECT_THAT(ErrorOf("rate_limits:\n  invoker: {per_second: 1, rate: 3}\n"),
              HasSubstr("unknown key \"rate\""));
}

TEST(AuthFileTest, ATokenPastedAsTheDigestIsNeverEchoed) {
  const std::string secret = "s3cr3t-token-value-pasted-by-mistake";
  EXPECT_THAT(ErrorOf("tokens:\n  - {name: a, sha256: " + secret + ", role: admin}\n"),
              AllOf(HasSubstr("sha256 must be"), Not(HasSubstr(secret))));
}

TEST(AuthFileTest, LoadReadsTheFileAndNamesAMissingOne) {
  testing::ScratchDir dir;
  const std::string path =
      dir.Write("auth.yaml", "tokens:\n  - {name: a, sha256: " + kOps + ", role: admin}\n");
  auto table = LoadAuthFile(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->entries.size(), 1u);
  auto missing = LoadAuthFile(dir.path() + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.yaml"));
  const std::string bad = dir.Write("bad.yaml", "tokens:\n  - {name: a, role: admin}\n");
  EXPECT_THAT(std::string(LoadAuthFile(bad).status().message()),
              AllOf(HasSubstr("auth file " + bad + " line 2"), HasSubstr("needs sha256")));
}

TEST(AuthFileTest, AFileOthersMayReadIsLoadedWithAWarning) {
  testing::ScratchDir dir;
  const std::string path =
      dir.Write("auth.yaml", "tokens:\n  - {name: a, sha256: " + kOps + ", role: admin}\n");
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  EXPECT_TRUE(LoadAuthFile(path).ok());
  EXPECT_EQ(log.str(), "");  // 0600: quiet
  std::filesystem::permissions(path, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  EXPECT_TRUE(LoadAuthFile(path).ok());
  spdlog::set_default_logger(previous);
  EXPECT_THAT(log.str(), AllOf(HasSubstr("readable by every user"), HasSubstr("chmod 600")));
}

}  // namespace
}  // namespace stoa::gateway::auth
