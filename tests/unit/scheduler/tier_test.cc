// The target table (scheduler/tier.h) and placement over three targets:
// every policy ranges over the installed targets, and what each target is
// worth is learned from its own outcomes.
#include "scheduler/tier.h"

#include <map>
#include <string>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

constexpr uint64_t kSeed = 99;
const Tier kPi = TierAt(0);
const Tier kCpu = TierAt(1);
const Tier kGpu = TierAt(2);

// Installs {pi: edge/cpu, cloud-cpu: cloud/cpu, cloud-gpu: cloud/cuda} for
// the test and restores the default table after it.
class TierTest : public ::testing::Test {
 protected:
  TierTest() {
    auto table = TargetTable::Make({{"pi", TierClass::kEdge, DeviceClass::kCpu},
                                    {"cloud-cpu", TierClass::kCloud, DeviceClass::kCpu},
                                    {"cloud-gpu", TierClass::kCloud, DeviceClass::kCuda}});
    EXPECT_TRUE(table.ok());
    InstallTargets(*std::move(table));
  }
  ~TierTest() override { InstallTargets(TargetTable::Default()); }

  // Decide, then observe the scripted warm latency of the chosen target.
  Decision Step(PlacementScheduler& s, const std::map<Tier, double>& ms, TierSet allowed) {
    Features f;
    f.warm = TierSet::All();
    auto d = s.Decide("f", allowed, f);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    Outcome o;
    o.tier = d->tier;
    o.latency_ms = ms.at(d->tier);
    o.server_ms = o.latency_ms;
    o.exec_ms = o.latency_ms;
    s.Observe("f", *d, o);
    clock_.AdvanceMicros(10'000);
    return *d;
  }

  common::FakeClock clock_{1'000'000};
};

TEST_F(TierTest, TheTableNamesTargetsAndTheirTiers) {
  EXPECT_EQ(AllTiers().size(), 3u);
  EXPECT_EQ(TierName(kGpu), "cloud-gpu");
  EXPECT_EQ(TierClassName(kGpu), "cloud");
  EXPECT_EQ(TierClassName(kPi), "edge");
  EXPECT_EQ(ParseTier("cloud-cpu"), kCpu);
  EXPECT_EQ(ParseTier("cloud"), std::nullopt);
  TierSet clouds = ParseTierOrClass("cloud");
  EXPECT_TRUE(clouds.Contains(kCpu) && clouds.Contains(kGpu) && !clouds.Contains(kPi));
  EXPECT_EQ(ParseTierOrClass("pi"), TierSet::Of(kPi));
  EXPECT_TRUE(ParseTierOrClass("fog").Empty());
  EXPECT_TRUE(TierSet::All().Contains(kGpu));
  EXPECT_FALSE(TierSet::All().Contains(TierAt(3)));
}

TEST_F(TierTest, MakeRefusesBadTables) {
  EXPECT_FALSE(TargetTable::Make({}).ok());
  EXPECT_FALSE(TargetTable::Make({{"a", TierClass::kEdge, DeviceClass::kCpu},
                                  {"a", TierClass::kCloud, DeviceClass::kCpu}})
                   .ok());
  EXPECT_FALSE(TargetTable::Make({{"bad name", TierClass::kEdge, DeviceClass::kCpu}}).ok());
  std::vector<TargetInfo> nine;
  for (int i = 0; i < 9; ++i) nine.push_back({std::string(1, 'a' + i), TierClass::kCloud});
  EXPECT_FALSE(TargetTable::Make(nine).ok());
}

// The GPU's advantage is learned, not assumed: after each target is tried,
// the predictive policy settles on the fastest of the three (the best of
// the others when the function excludes it).
TEST_F(TierTest, PredictivePicksTheFastestOfThree) {
  PolicyConfig p;
  p.policy = PolicyKind::kPredictive;
  p.explore_budget = 0.0;
  p.stale_probe = StaleProbe::kRoute;
  PlacementScheduler s(clock_, nullptr, kSeed, p);
  std::map<Tier, double> ms = {{kPi, 30.0}, {kCpu, 20.0}, {kGpu, 5.0}};
  for (int i = 0; i < 20; ++i) Step(s, ms, TierSet::All());
  int gpu = 0;
  for (int i = 0; i < 20; ++i) gpu += Step(s, ms, TierSet::All()).tier == kGpu;
  EXPECT_GE(gpu, 19);
  // The function may not use the GPU: the best of the other two.
  TierSet no_gpu = TierSet::All();
  no_gpu.Remove(kGpu);
  int cpu = 0;
  for (int i = 0; i < 10; ++i) cpu += Step(s, ms, no_gpu).tier == kCpu;
  EXPECT_GE(cpu, 9);
}

TEST_F(TierTest, FixedPoliciesKeepToTheirTier) {
  PolicyConfig cloud_only;
  cloud_only.policy = PolicyKind::kCloudOnly;
  PlacementScheduler s(clock_, nullptr, kSeed, cloud_only);
  std::map<Tier, double> ms = {{kPi, 1.0}, {kCpu, 20.0}, {kGpu, 5.0}};
  for (int i = 0; i < 30; ++i) {
    Decision d = Step(s, ms, TierSet::All());
    EXPECT_NE(d.tier, kPi) << "step " << i;
  }
  PolicyConfig edge_only;
  edge_only.policy = PolicyKind::kEdgeOnly;
  s.SetPolicy(edge_only);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Step(s, ms, TierSet::All()).tier, kPi);
}

TEST_F(TierTest, RoundRobinVisitsEveryTarget) {
  PolicyConfig rr;
  rr.policy = PolicyKind::kRoundRobin;
  PlacementScheduler s(clock_, nullptr, kSeed, rr);
  std::map<Tier, double> ms = {{kPi, 1.0}, {kCpu, 2.0}, {kGpu, 3.0}};
  std::map<Tier, int> seen;
  for (int i = 0; i < 9; ++i) ++seen[Step(s, ms, TierSet::All()).tier];
  EXPECT_EQ(seen[kPi], 3);
  EXPECT_EQ(seen[kCpu], 3);
  EXPECT_EQ(seen[kGpu], 3);
}

}  // namespace
}  // namespace stoa::scheduler
