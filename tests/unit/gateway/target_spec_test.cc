#include "gateway/target_spec.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/tier.h"

namespace stoa::gateway {
namespace {

using scheduler::DeviceClass;
using scheduler::Tier;
using scheduler::TierClass;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Restores the default table after a test that installs its own.
class TargetSpecTest : public ::testing::Test {
 protected:
  ~TargetSpecTest() override { scheduler::InstallTargets(scheduler::TargetTable::Default()); }
};

TEST_F(TargetSpecTest, ParsesOneTargetWithAPool) {
  auto t = ParseTargetFlag("cloud-cpu=cloud:cpu:10.0.0.1:50051,10.0.0.2:50051");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].info.name, "cloud-cpu");
  EXPECT_EQ((*t)[0].info.tier, TierClass::kCloud);
  EXPECT_EQ((*t)[0].info.device, DeviceClass::kCpu);
  EXPECT_FALSE((*t)[0].in_process);
  EXPECT_THAT((*t)[0].addresses, ElementsAre("10.0.0.1:50051", "10.0.0.2:50051"));
}

TEST_F(TargetSpecTest, AJoinedYamlListHoldsSeveralTargets) {
  // The config loader joins `target: [a, b]` with commas.
  auto t = ParseTargetFlag("pi=edge:cpu:local,gpu=cloud:cuda:h:1,h:2,unix:/run/x.sock");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_TRUE((*t)[0].in_process);
  EXPECT_EQ((*t)[0].info.tier, TierClass::kEdge);
  EXPECT_EQ((*t)[1].info.device, DeviceClass::kCuda);
  EXPECT_THAT((*t)[1].addresses, ElementsAre("h:1", "h:2", "unix:/run/x.sock"));
}

TEST_F(TargetSpecTest, NoAddressDeclaresAnAnnouncedTarget) {
  auto t = ParseTargetFlag("gpu=cloud:cuda:,cpu=cloud:cpu:h:1");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_TRUE((*t)[0].announced);
  EXPECT_TRUE((*t)[0].addresses.empty());
  EXPECT_FALSE((*t)[0].in_process);
  EXPECT_FALSE((*t)[1].announced);
}

TEST_F(TargetSpecTest, BadSpecsNameTheProblem) {
  struct Case {
    std::string spec;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"nocolon", "expected NAME=TIER:DEVICE:ADDR"},
           {"a=cloud:cpu", "expected NAME=TIER:DEVICE:ADDR"},
           {"a=fog:cpu:h:1", "tier 'fog' is not edge or cloud"},
           {"a=cloud:tpu:h:1", "device 'tpu' is not cpu or cuda"},
           {"=cloud:cpu:h:1", "has no name"},
           {"a=cloud:cpu:local,h:1", "cannot be part of a pool"},
           {"a=cloud:cpu:justahost", "is not local, unix:PATH or HOST:PORT"},
       }) {
    auto t = ParseTargetFlag(c.spec);
    ASSERT_FALSE(t.ok()) << c.spec;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("--target")) << c.spec;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.message)) << c.spec;
  }
}

TEST_F(TargetSpecTest, ShorthandsAloneGiveTheTwoTiersOfOld) {
  auto t = ResolveTargets("in-process", "h:1,h:2", {});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].info.name, "edge");
  EXPECT_TRUE((*t)[0].in_process);
  EXPECT_EQ((*t)[1].info.name, "cloud");
  EXPECT_THAT((*t)[1].addresses, ElementsAre("h:1", "h:2"));
  // An absent one stays, without executor.
  auto none = ResolveTargets("none", "", {});
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_EQ(none->size(), 2u);
  EXPECT_TRUE((*none)[0].addresses.empty());
  EXPECT_TRUE((*none)[1].addresses.empty());
}

TEST_F(TargetSpecTest, TargetsFollowTheShorthandsThatArePresent) {
  auto t = ResolveTargets("in-process", "none",
                          {"cloud-cpu=cloud:cpu:h:1,h:2", "cloud-b=cloud:cuda:h:3"});
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<std::string> names;
  for (const auto& s : *t) names.push_back(s.info.name);
  EXPECT_THAT(names, ElementsAre("edge", "cloud-cpu", "cloud-b"));
}

TEST_F(TargetSpecTest, DuplicatesAndASecondInProcessTargetAreRefused) {
  auto dup = ResolveTargets("none", "", {"a=cloud:cpu:h:1", "a=cloud:cpu:h:2"});
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(std::string(dup.status().message()), HasSubstr("duplicate target name 'a'"));
  auto clash = ResolveTargets("in-process", "", {"edge=edge:cpu:h:1"});
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(std::string(clash.status().message()), HasSubstr("duplicate target name 'edge'"));
  auto two_local = ResolveTargets("in-process", "", {"pi=edge:cpu:local"});
  ASSERT_FALSE(two_local.ok());
  EXPECT_THAT(std::string(two_local.status().message()), HasSubstr("second in-process target"));
  std::vector<std::string> many;
  for (int i = 0; i < scheduler::kMaxTargets; ++i) {
    many.push_back(absl::StrCat("t", i, "=cloud:cpu:h:", i + 1));
  }
  auto too_many = ResolveTargets("in-process", "", many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(std::string(too_many.status().message()), HasSubstr("at most"));
}

TEST_F(TargetSpecTest, ForcedTargetByNameOrSingleTargetTier) {
  auto targets = ResolveTargets("in-process", "none", {"c1=cloud:cpu:h:1", "c2=cloud:cuda:h:2"});
  ASSERT_TRUE(targets.ok());
  scheduler::InstallTargets(*TableOf(*targets));
  auto none = ForcedTarget("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto c2 = ForcedTarget("", "c2");
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(**c2, scheduler::TierAt(2));
  auto edge = ForcedTarget("edge", "");
  ASSERT_TRUE(edge.ok());
  EXPECT_EQ(**edge, scheduler::TierAt(0));
  auto unknown = ForcedTarget("", "c9");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("unknown target 'c9' (targets: edge, c1, c2)"));
  auto ambiguous = ForcedTarget("cloud", "");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_THAT(std::string(ambiguous.status().message()), HasSubstr("several targets"));
  EXPECT_FALSE(ForcedTarget("fog", "").ok());
  EXPECT_FALSE(ForcedTarget("edge", "c1").ok());
  EXPECT_TRUE(ForcedTarget("cloud", "c1").ok() == false);  // still ambiguous tier
  EXPECT_EQ(scheduler::TierClassName(scheduler::TierAt(2)), "cloud");
  EXPECT_EQ(scheduler::TierName(scheduler::TierAt(2)), "c2");
  EXPECT_TRUE(scheduler::ParseTierOrClass("cloud").Contains(scheduler::TierAt(1)));
  EXPECT_TRUE(scheduler::ParseTierOrClass("cloud").Contains(scheduler::TierAt(2)));
  EXPECT_FALSE(scheduler::ParseTierOrClass("cloud").Contains(Tier::kEdge));
}

}  // namespace
}  // namespace stoa::gateway
