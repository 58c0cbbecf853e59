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

}  // namespace
}  // namespace stoa::cluster
