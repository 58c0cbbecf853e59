#include "scheduler/fixed_policies.h"

#include <map>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

struct Fixture {
  PolicyConfig config;
  Features features;
  Rng rng{42};
  PolicyInput Input(TierSet allowed, TierSet available) {
    PolicyInput in;
    in.allowed = allowed;
    in.available = available;
    in.features = &features;
    in.config = &config;
    in.rng = &rng;
    return in;
  }
};

TEST(FixedTierPolicyTest, PicksItsTierWithoutFailover) {
  Fixture f;
  FixedTierPolicy edge(Tier::kEdge);
  Choice c = edge.Choose(f.Input(TierSet::All(), TierSet::Of(Tier::kCloud)));
  EXPECT_EQ(c.tier, Tier::kEdge);  // even when only the cloud is available
  EXPECT_EQ(c.reason, Reason::kPolicy);
  EXPECT_FALSE(c.may_fail_over);
}

TEST(FixedTierPolicyTest, FallsBackWhenFunctionExcludesTheTier) {
  Fixture f;
  FixedTierPolicy cloud(Tier::kCloud);
  Choice c = cloud.Choose(f.Input(TierSet::Of(Tier::kEdge), TierSet::Of(Tier::kEdge)));
  EXPECT_EQ(c.tier, Tier::kEdge);
  EXPECT_EQ(c.reason, Reason::kFailover);
}

TEST(RoundRobinPolicyTest, AlternatesAmongAvailableTiers) {
  Fixture f;
  RoundRobinPolicy rr;
  std::map<Tier, int> count;
  Tier last = rr.Choose(f.Input(TierSet::All(), TierSet::All())).tier;
  for (int i = 0; i < 100; ++i) {
    Tier t = rr.Choose(f.Input(TierSet::All(), TierSet::All())).tier;
    EXPECT_NE(t, last);
    last = t;
    ++count[t];
  }
  EXPECT_EQ(count[Tier::kEdge], 50);
  EXPECT_EQ(count[Tier::kCloud], 50);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rr.Choose(f.Input(TierSet::All(), TierSet::Of(Tier::kCloud))).tier, Tier::kCloud);
  }
}

TEST(RandomPolicyTest, UniformAmongAvailableTiers) {
  Fixture f;
  RandomPolicy random;
  int edge = 0;
  constexpr int kN = 10000;
  for (int i = 0; i < kN; ++i) {
    Choice c = random.Choose(f.Input(TierSet::All(), TierSet::All()));
    EXPECT_EQ(c.reason, Reason::kPolicy);
    edge += c.tier == Tier::kEdge;
  }
  // Binomial(10000, 0.5): sd 50, so ±300 is 6 sd.
  EXPECT_NEAR(edge, kN / 2, 300);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(random.Choose(f.Input(TierSet::All(), TierSet::Of(Tier::kEdge))).tier, Tier::kEdge);
  }
}

TEST(RngTest, SameSeedSameSequence) {
  Rng a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs = differs || x != c.Next();
    double u = a.Uniform();
    b.Uniform();
    c.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace stoa::scheduler
