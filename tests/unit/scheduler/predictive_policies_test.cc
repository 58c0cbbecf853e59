#include "scheduler/predictive_policies.h"

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

Prediction Measured(double ms) {
  Prediction p;
  p.measured = true;
  p.ms = p.mean_ms = p.p95_ms = ms;
  return p;
}

struct Fixture {
  TierSet explorable;
  PolicyConfig config;
  Features features;
  Rng rng{1};
  PolicyInput Input(double edge_ms, double cloud_ms, TierSet available = TierSet::All()) {
    PolicyInput in;
    in.allowed = TierSet::All();
    in.available = available;
    in.features = &features;
    in.config = &config;
    in.rng = &rng;
    if (edge_ms >= 0) in.predictions[TierIndex(Tier::kEdge)] = Measured(edge_ms);
    if (cloud_ms >= 0) in.predictions[TierIndex(Tier::kCloud)] = Measured(cloud_ms);
    in.explorable = explorable;
    return in;
  }
};

TEST(PredictivePolicyTest, ExploresUnmeasuredTiersFirst) {
  Fixture f;
  f.config.explore_budget = 0;
  PredictivePolicy p;
  Choice c = p.Choose(f.Input(-1, -1));
  EXPECT_EQ(c.tier, Tier::kEdge);
  EXPECT_EQ(c.reason, Reason::kExplore);
  c = p.Choose(f.Input(1.0, -1));
  EXPECT_EQ(c.tier, Tier::kCloud);
  EXPECT_EQ(c.reason, Reason::kExplore);
  // An unmeasured tier whose circuit is open is not explored.
  c = p.Choose(f.Input(1.0, -1, TierSet::Of(Tier::kEdge)));
  EXPECT_EQ(c.tier, Tier::kEdge);
  EXPECT_EQ(c.reason, Reason::kPredictedBest);
}

TEST(PredictivePolicyTest, PicksLowestPrediction) {
  Fixture f;
  f.config.explore_budget = 0;
  PredictivePolicy p;
  EXPECT_EQ(p.Choose(f.Input(10, 20)).tier, Tier::kEdge);
  Choice c = p.Choose(f.Input(30, 20));
  EXPECT_EQ(c.tier, Tier::kCloud);
  EXPECT_EQ(c.reason, Reason::kPredictedBest);
  // The best tier is returned even when its circuit is open: the scheduler
  // fails over.
  EXPECT_EQ(p.Choose(f.Input(30, 20, TierSet::Of(Tier::kEdge))).tier, Tier::kCloud);
}

TEST(SloPolicyTest, EdgeUntilItMissesTheSlo) {
  Fixture f;
  f.config.explore_budget = 0;
  f.config.slo_ms = 25;
  SloPolicy p;
  Choice c = p.Choose(f.Input(20, 5));
  EXPECT_EQ(c.tier, Tier::kEdge);  // slower than the cloud but within the SLO
  EXPECT_EQ(c.reason, Reason::kPolicy);
  c = p.Choose(f.Input(30, 5));
  EXPECT_EQ(c.tier, Tier::kCloud);
  EXPECT_EQ(c.reason, Reason::kPredictedBest);
  EXPECT_EQ(p.Choose(f.Input(30, 50)).tier, Tier::kEdge);  // both miss: the fastest
  c = p.Choose(f.Input(30, -1));
  EXPECT_EQ(c.tier, Tier::kCloud);  // must measure the cloud to know
  EXPECT_EQ(c.reason, Reason::kExplore);
  EXPECT_EQ(p.Choose(f.Input(-1, 5)).tier, Tier::kEdge);
  f.config.slo_ms = 0;  // no SLO: always the edge
  EXPECT_EQ(p.Choose(f.Input(300, 5)).tier, Tier::kEdge);
}

TEST(WeightedPolicyTest, CostAndEnergyShiftTheChoice) {
  Fixture f;
  f.config.explore_budget = 0;
  WeightedPolicy p;  // edge cost 0 energy 1; cloud cost 1 energy 0.2
  EXPECT_EQ(p.Choose(f.Input(10, 8)).tier, Tier::kCloud);  // latency only
  f.config.weights = {1.0, 5.0, 0.0};                      // cloud costs 5 ms' worth
  EXPECT_EQ(p.Choose(f.Input(10, 8)).tier, Tier::kEdge);
  f.config.weights = {0.0, 0.0, 1.0};  // energy only: the cloud
  EXPECT_EQ(p.Choose(f.Input(1, 100)).tier, Tier::kCloud);
  TierFigures figures;
  figures.energy = {0.1, 0.2};
  WeightedPolicy custom(figures);
  EXPECT_EQ(custom.Choose(f.Input(1, 100)).tier, Tier::kEdge);
}

TEST(PredictivePolicyTest, ProbesAnExplorableTier) {
  Fixture f;
  PredictivePolicy p;
  Choice c = p.Choose(f.Input(10, 20));
  EXPECT_EQ(c.reason, Reason::kPredictedBest);
  f.explorable = TierSet::All();
  c = p.Choose(f.Input(10, 20));
  EXPECT_EQ(c.tier, Tier::kCloud);
  EXPECT_EQ(c.reason, Reason::kExplore);
  // Explorable but not available (circuit open): no probe.
  c = p.Choose(f.Input(10, 20, TierSet::Of(Tier::kEdge)));
  EXPECT_EQ(c.reason, Reason::kPredictedBest);
}

TEST(SloPolicyTest, UsesThePredictedP95) {
  Fixture f;
  f.config.slo_ms = 25;
  SloPolicy p;
  PolicyInput in = f.Input(20, 5);
  in.predictions[TierIndex(Tier::kEdge)].p95_ms = 30;  // mean fine, tail misses
  EXPECT_EQ(p.Choose(in).tier, Tier::kCloud);
}

}  // namespace
}  // namespace stoa::scheduler
