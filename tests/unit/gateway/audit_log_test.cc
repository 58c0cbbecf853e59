// AuditLog: entries appended as JSON lines, read back after a reopen (a
// restart), a torn last line skipped, tenant filtering and rotation.
#include "gateway/audit_log.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogTest() {
    dir_ = fs::temp_directory_path() /
           ("stoa-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.log").string();
  }
  ~AuditLogTest() override { fs::remove_all(dir_); }

  static AuditEntry Entry(const std::string& action, const std::string& target,
                          const std::string& tenant) {
    AuditEntry e;
    e.identity = "ops";
    e.role = "admin";
    e.tenant = tenant;
    e.client = "127.0.0.1";
    e.action = action;
    e.target = target;
    e.target_tenant = tenant;
    e.outcome = "ok";
    e.status = 201;
    e.details = {{"version", 1}};
    return e;
  }

  std::string ReadAll() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, AppendsJsonLinesAndReadsThemBackAfterReopen) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Record(Entry("function.register", "digits", "")).ok());
    ASSERT_TRUE((*log)->Record(Entry("function.delete", "digits", "")).ok());
  }
  const std::string text = ReadAll();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_NE(text.find("\"action\":\"function.register\""), std::string::npos) << text;

  auto reopened = AuditLog::Open(path_);
  ASSERT_TRUE(reopened.ok());
  auto last = (*reopened)->Last(10);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].action, "function.delete");  // newest first
  EXPECT_EQ(last[1].action, "function.register");
  EXPECT_GT(last[0].time_ms, 0);
  EXPECT_EQ(last[0].details["version"], 1);
  EXPECT_EQ(AuditEntryToJson(last[0])["time"].get<std::string>().size(), 24u);
}

TEST_F(AuditLogTest, SkipsATornLastLine) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Record(Entry("policy.set", "", "")).ok());
  }
  std::ofstream(path_, std::ios::app) << "{\"time_ms\":12,\"action\":\"func";  // a crash mid-write
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log.ok());
  auto last = (*log)->Last(10);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].action, "policy.set");
}

TEST_F(AuditLogTest, KeepsTheNewestAndFiltersByTenant) {
  AuditLog::Options options;
  options.keep = 3;
  auto log = AuditLog::Open(path_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*log)
                    ->Record(Entry("function.register", "f" + std::to_string(i),
                                   i % 2 == 0 ? "acme" : "globex"))
                    .ok());
  }
  auto all = (*log)->Last(100);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].target, "f4");
  auto acme = (*log)->Last(100, "acme");
  ASSERT_EQ(acme.size(), 2u);
  EXPECT_EQ(acme[0].target, "f4");
  EXPECT_EQ(acme[1].target, "f2");
  EXPECT_EQ((*log)->Last(1).size(), 1u);
}

TEST_F(AuditLogTest, RotatesPastTheFileLimit) {
  AuditLog::Options options;
  options.max_file_bytes = 600;
  auto log = AuditLog::Open(path_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*log)->Record(Entry("function.register", "f" + std::to_string(i), "")).ok());
  }
  EXPECT_TRUE(fs::exists(path_ + ".1"));
  EXPECT_LE(fs::file_size(path_), 600u);
  EXPECT_EQ((*log)->Last(100).size(), 10u);  // memory keeps them all
}

TEST_F(AuditLogTest, AnUnwritableDirectoryIsAClearError) {
  auto log = AuditLog::Open((dir_ / "missing" / "audit.log").string());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("audit log"), std::string::npos) << log.status();
}

}  // namespace
}  // namespace stoa::gateway
