#include "cluster/member_set_executor.h"

#include <future>

#include "gtest/gtest.h"

namespace stoa::cluster {
namespace {

Member At(const std::string& address) {
  return Member{.target = "cloud", .address = address, .device = "cpu", .capacity = 1};
}

TEST(MemberSetExecutorTest, NoMembersIsUnavailableNamingTheTarget) {
  MemberSetExecutor set("cloud", {}, {});
  std::promise<absl::StatusOr<v1::InvokeResponse>> got;
  set.Invoke(v1::InvokeRequest(), [&](auto r) { got.set_value(std::move(r)); });
  auto r = got.get_future().get();
  ASSERT_TRUE(absl::IsUnavailable(r.status()));
  EXPECT_NE(r.status().message().find("target cloud has no members"), std::string::npos);
}

TEST(MemberSetExecutorTest, SourcesAreUnitedWithTheFixedAddresses) {
  MemberSetExecutor set("cloud", {"127.0.0.1:1"}, {});
  set.SetMembers("etcd", {At("127.0.0.1:3"), At("127.0.0.1:2")});
  set.SetMembers("dns:///x:4", {At("127.0.0.1:4")});
  EXPECT_EQ(set.Addresses(),
            (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"}));
  set.SetMembers("etcd", {});
  EXPECT_EQ(set.Addresses(), (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:4"}));
}

TEST(MemberSetExecutorTest, EveryMemberDownIsUnavailable) {
  MemberSetExecutor set("cloud", {}, {});
  set.SetMembers("etcd", {At("127.0.0.1:1")});  // nothing listens on port 1
  std::promise<absl::StatusOr<v1::InvokeResponse>> got;
  set.Invoke(v1::InvokeRequest(), [&](auto r) { got.set_value(std::move(r)); });
  EXPECT_TRUE(absl::IsUnavailable(got.get_future().get().status()));
  set.SetMembers("etcd", {});  // the retired pool is destroyed once idle
  EXPECT_TRUE(set.Addresses().empty());
}

// Issue 15: a membership change updates the pool in place, so a member
// that stays keeps its down mark when another one joins.
TEST(MemberSetExecutorTest, ADownMemberStaysDownAcrossAnotherMembersJoin) {
  MemberSetExecutor set("cloud", {}, {});
  set.SetMembers("etcd", {At("127.0.0.1:1")});  // nothing listens on port 1
  std::promise<absl::StatusOr<v1::InvokeResponse>> got;
  set.Invoke(v1::InvokeRequest(), [&](auto r) { got.set_value(std::move(r)); });
  ASSERT_TRUE(absl::IsUnavailable(got.get_future().get().status()));
  ASSERT_EQ(set.pool().Members().size(), 1u);
  ASSERT_FALSE(set.pool().Members()[0].up);
  const int64_t down_until = set.pool().Members()[0].down_until_us;

  set.SetMembers("etcd", {At("127.0.0.1:1"), At("127.0.0.1:2")});
  std::vector<executors::MemberStatus> members = set.pool().Members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "grpc:127.0.0.1:1");
  EXPECT_FALSE(members[0].up);
  EXPECT_EQ(members[0].down_until_us, down_until);
  EXPECT_NE(members[0].last_error, "");
  EXPECT_EQ(members[1].name, "grpc:127.0.0.1:2");
  EXPECT_TRUE(members[1].up);
}

}  // namespace
}  // namespace stoa::cluster
