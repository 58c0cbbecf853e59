#include "cluster/keys.h"

#include "cluster/etcd_client.h"
#include "gtest/gtest.h"

namespace stoa::cluster {
namespace {

TEST(KeysTest, RegistryKeysRoundTrip) {
  EXPECT_EQ(FunctionKey("digits"), "/stoa/v1/registry/functions/digits");
  EXPECT_EQ(FunctionPolicyKey("digits"), "/stoa/v1/registry/policies/digits");
  auto fn = ParseRegistryKey(FunctionKey("digits"));
  ASSERT_TRUE(fn.has_value());
  EXPECT_EQ(fn->kind, RegistryKey::kFunction);
  EXPECT_EQ(fn->name, "digits");
  auto policy = ParseRegistryKey(FunctionPolicyKey("a.b-c"));
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(policy->kind, RegistryKey::kFunctionPolicy);
  EXPECT_EQ(policy->name, "a.b-c");
  auto global = ParseRegistryKey("/stoa/v1/registry/policy");
  ASSERT_TRUE(global.has_value());
  EXPECT_EQ(global->kind, RegistryKey::kGlobalPolicy);
}

TEST(KeysTest, ForeignRegistryKeysAreIgnored) {
  EXPECT_FALSE(ParseRegistryKey("/stoa/v1/registry/functions/").has_value());
  EXPECT_FALSE(ParseRegistryKey("/stoa/v1/registry/functions/a/b").has_value());
  EXPECT_FALSE(ParseRegistryKey("/stoa/v1/registry/other").has_value());
  EXPECT_FALSE(ParseRegistryKey("/elsewhere").has_value());
}

TEST(KeysTest, MemberRoundTrip) {
  Member m{.target = "cloud", .address = "10.0.0.7:50051", .device = "cuda", .capacity = 8};
  EXPECT_EQ(MemberKey(m), "/stoa/v1/members/cloud/10.0.0.7:50051");
  auto back = DecodeMember(MemberKey(m), EncodeMember(m));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->target, "cloud");
  EXPECT_EQ(back->address, "10.0.0.7:50051");
  EXPECT_EQ(back->device, "cuda");
  EXPECT_EQ(back->capacity, 8);
}

TEST(KeysTest, BadMembersAreRefusedNamingTheKey) {
  Member m{.target = "cloud", .address = "10.0.0.7:50051", .device = "cpu", .capacity = 1};
  auto not_json = DecodeMember(MemberKey(m), "{");
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.status().message().find("/stoa/v1/members/cloud/10.0.0.7:50051"),
            std::string::npos);
  EXPECT_FALSE(DecodeMember("/stoa/v1/members/cloud/10.0.0.8:1", EncodeMember(m)).ok());
  EXPECT_FALSE(DecodeMember("/stoa/v1/members/Cloud/10.0.0.7:50051", EncodeMember(m)).ok());
  EXPECT_FALSE(DecodeMember("/stoa/v1/members/cloud", EncodeMember(m)).ok());
  Member no_port{.target = "cloud", .address = "host", .device = "cpu", .capacity = 1};
  EXPECT_FALSE(DecodeMember(MemberKey(no_port), EncodeMember(no_port)).ok());
}

TEST(KeysTest, TargetNames) {
  EXPECT_TRUE(ValidateTargetName("cloud").ok());
  EXPECT_TRUE(ValidateTargetName("gpu-a100_2").ok());
  EXPECT_FALSE(ValidateTargetName("").ok());
  EXPECT_FALSE(ValidateTargetName("-x").ok());
  EXPECT_FALSE(ValidateTargetName("a/b").ok());
  EXPECT_FALSE(ValidateTargetName(std::string(64, 'a')).ok());
}

TEST(EtcdUrlTest, ParsesEndpointsAndRefusesOthers) {
  auto one = ParseEtcdUrl("etcd://127.0.0.1:2379");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<std::string>{"127.0.0.1:2379"});
  auto two = ParseEtcdUrl("etcd://a:1,b:2");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_FALSE(ParseEtcdUrl("http://a:1").ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://").ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://a").ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://a:0").ok());
}

TEST(EtcdUrlTest, PrefixEnd) {
  EXPECT_EQ(PrefixEnd("/stoa/v1/"), "/stoa/v10");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace stoa::cluster
