#include "scheduler/exploration.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

constexpr int kEdge = TierIndex(Tier::kEdge);
constexpr int kCloud = TierIndex(Tier::kCloud);
constexpr double kInf = std::numeric_limits<double>::infinity();

Prediction Measured(double mean_ms) {
  Prediction p;
  p.measured = true;
  p.ms = p.mean_ms = p.p95_ms = mean_ms;
  return p;
}

Exploration::Predictions Both(double edge_ms, double cloud_ms) {
  Exploration::Predictions p;
  p[kEdge] = Measured(edge_ms);
  p[kCloud] = Measured(cloud_ms);
  return p;
}

Outcome Took(Tier tier, double latency_ms, double load_ms = 0.0) {
  Outcome o;
  o.tier = tier;
  o.latency_ms = latency_ms;
  o.load_ms = load_ms;
  return o;
}

TEST(ExplorationTest, BestMeanIsTheLowestAvailableMeasuredTier) {
  Exploration::Predictions p = Both(17, 93);
  EXPECT_DOUBLE_EQ(Exploration::BestMeanMs(TierSet::All(), p), 17.0);
  EXPECT_DOUBLE_EQ(Exploration::BestMeanMs(TierSet::Of(Tier::kCloud), p), 93.0);
  p[kEdge] = Prediction{};  // unmeasured
  EXPECT_DOUBLE_EQ(Exploration::BestMeanMs(TierSet::All(), p), 93.0);
  EXPECT_DOUBLE_EQ(Exploration::BestMeanMs(TierSet::Of(Tier::kEdge), p), 0.0);
}

TEST(ExplorationTest, AFirstProbeIsPendingUntilMeasuredOrStale) {
  Exploration e;
  Exploration::Predictions p;                                 // nothing measured
  EXPECT_TRUE(e.FirstPending(TierSet::All(), p, 0).Empty());  // never sent
  e.Decided(Tier::kCloud, Reason::kExplore, p[kCloud], 0.0, 1'000);
  EXPECT_EQ(e.FirstPending(TierSet::All(), p, 2'000), TierSet::Of(Tier::kCloud));
  EXPECT_TRUE(e.FirstPending(TierSet::Of(Tier::kEdge), p, 2'000).Empty());  // not allowed
  EXPECT_TRUE(e.FirstPending(TierSet::All(), p, 1'000 + Exploration::kStaleUs).Empty());
  p[kCloud] = Measured(20);
  EXPECT_TRUE(e.FirstPending(TierSet::All(), p, 2'000).Empty());
}

TEST(ExplorationTest, NoBudgetNoProbes) {
  Exploration e;
  const Exploration::Predictions p = Both(10, 20);
  for (int i = 0; i < 100; ++i) e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], 10, 0);
  e.Probed(Tier::kCloud, Took(Tier::kCloud, 1), {-50, 0, 0, 0}, false, 10);  // owed follow-ups
  EXPECT_GT(e.FollowUps(Tier::kCloud), 0);
  EXPECT_TRUE(e.Explorable(0.0, TierSet::All(), p, 10, 10'000'000).Empty());
}

TEST(ExplorationTest, StaleTiersWithinTheCountBudget) {
  Exploration e;
  const Exploration::Predictions p = Both(10, 10);  // equal: probes cost nothing
  int64_t now = 0;
  e.Decided(Tier::kCloud, Reason::kPredictedBest, p[kCloud], 10, now);
  for (int i = 0; i < 3; ++i) e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], 10, now);
  now += Exploration::kStaleUs;
  // 4 decisions at budget 0.2 do not pay for one probe yet.
  EXPECT_TRUE(e.Explorable(0.2, TierSet::All(), p, 10, now).Empty());
  e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], 10, now);
  // 5 do; the cloud is stale, the edge was just used.
  EXPECT_EQ(e.Explorable(0.2, TierSet::All(), p, 10, now), TierSet::Of(Tier::kCloud));
  EXPECT_TRUE(e.Explorable(0.2, TierSet::Of(Tier::kEdge), p, 10, now).Empty());  // unavailable
  // A shadow run refreshes the tier as much as a decision does.
  e.Observed(Tier::kCloud, now);
  EXPECT_TRUE(e.Explorable(0.2, TierSet::All(), p, 10, now + 1).Empty());
  EXPECT_TRUE(
      e.Explorable(0.2, TierSet::All(), p, 10, now + Exploration::kStaleUs).Contains(Tier::kCloud));
  // The probe spends the budget: the next one waits for 4 more decisions.
  e.Decided(Tier::kCloud, Reason::kExplore, p[kCloud], 10, now);
  now += Exploration::kStaleUs;
  for (int i = 0; i < 3; ++i) e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], 10, now);
  EXPECT_TRUE(e.Explorable(0.2, TierSet::All(), p, 10, now).Empty());
  e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], 10, now);
  EXPECT_EQ(e.Explorable(0.2, TierSet::All(), p, 10, now), TierSet::Of(Tier::kCloud));
}

TEST(ExplorationTest, AMuchSlowerTierWaitsForTheCostBudget) {
  // Edge 17 ms, cloud 93 ms: a probe costs 76 ms; at budget 0.02 the best
  // tier's latency summed over decisions allows one per ~224 decisions.
  Exploration e;
  const Exploration::Predictions p = Both(17, 93);
  const double best = Exploration::BestMeanMs(TierSet::All(), p);
  int64_t now = 0;
  int decisions = 0;
  while (e.Explorable(0.02, TierSet::All(), p, best, now).Empty() && decisions < 1000) {
    e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], best, now);
    ++decisions;
    now += 10'000;
  }
  EXPECT_EQ(decisions, 224);  // 0.02 × 17 × 224 >= 76
  e.Decided(Tier::kCloud, Reason::kExplore, p[kCloud], best, now);
  // The probe's cost is charged: the next one waits as long again.
  int more = 0;
  while (e.Explorable(0.02, TierSet::All(), p, best, now).Empty() && more < 1000) {
    e.Decided(Tier::kEdge, Reason::kPredictedBest, p[kEdge], best, now);
    ++more;
    now += 10'000;
  }
  EXPECT_EQ(more, 223);
}

TEST(ExplorationTest, AFasterThanBelievedProbeEarnsFollowUps) {
  Exploration e;
  const Exploration::Predictions p = Both(10, 40);
  // Found 30 ms faster than predicted: more than 20 % of 10 ms + 5 ms.
  e.Probed(Tier::kCloud, Took(Tier::kCloud, 10), {-30, 0, 0, std::nan("")}, false, 10);
  ASSERT_EQ(e.FollowUps(Tier::kCloud), Exploration::kFollowUps);
  // Owed probes are explorable outside the routine budget (no decisions
  // yet, nothing stale).
  EXPECT_EQ(e.Explorable(0.02, TierSet::All(), p, 10, 0), TierSet::Of(Tier::kCloud));
  // A second change while some are owed does not add more.
  e.Decided(Tier::kCloud, Reason::kExplore, p[kCloud], 10, 0);
  e.Probed(Tier::kCloud, Took(Tier::kCloud, 10), {-30, 0, 0, 0}, false, 10);
  EXPECT_EQ(e.FollowUps(Tier::kCloud), Exploration::kFollowUps - 1);
  // Any decision for the tier pays one off; follow-ups cost no budget.
  e.Decided(Tier::kCloud, Reason::kPredictedBest, p[kCloud], 10, 0);
  e.Decided(Tier::kCloud, Reason::kExplore, p[kCloud], 10, 0);
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);
  EXPECT_TRUE(e.Explorable(0.02, TierSet::All(), p, 10, 0).Empty());
}

// Inside a saturated spell (`lucky`) a fast probe is a time slice's luck:
// no follow-ups, as a probe or as a shadow; the same probe outside earns
// them.
TEST(ExplorationTest, ALuckyProbeInsideASaturatedSpellEarnsNone) {
  for (bool shadow : {false, true}) {
    for (bool lucky : {true, false}) {
      Exploration e;
      const TermErrors faster = {-150, 0, 0, 0};  // 20 ms against 170 predicted
      if (shadow) {
        e.ShadowProbed(Tier::kCloud, Took(Tier::kCloud, 20), faster, false, 40, lucky);
      } else {
        e.Probed(Tier::kCloud, Took(Tier::kCloud, 20), faster, false, 40, lucky);
      }
      EXPECT_EQ(e.FollowUps(Tier::kCloud), lucky ? 0 : Exploration::kFollowUps)
          << "shadow " << shadow << ", lucky " << lucky;
    }
  }
}

TEST(ExplorationTest, ASlowerOrSimilarProbeEarnsNone) {
  Exploration e;
  e.Probed(Tier::kCloud, Took(Tier::kCloud, 80), {+40, 0, 0, 0}, false, 10);  // slower
  e.Probed(Tier::kCloud, Took(Tier::kCloud, 40), {-10, 0, 0, 0}, false, 10);  // < 20 % + 5
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);
}

// After a stall of the tier's own traffic, a shadow that finds the tier
// still much slower (the follow-up met the same stall) owes one re-check
// on the next decision, at most kSlowChecks in a row; one that is not
// slower ends the run. Without such a stall, a slow shadow owes none.
TEST(ExplorationTest, ASlowShadowIsRecheckedAFewTimesInARow) {
  Exploration e;
  auto slow_shadow = [&] {
    e.ShadowProbed(Tier::kCloud, Took(Tier::kCloud, 200), {+180, 0, 0, 0}, false, 40);
  };
  slow_shadow();
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);  // an unchosen slow tier: no re-check
  e.Served(Tier::kCloud, Took(Tier::kCloud, 200), {+180, 0, 0, 0});  // the stall
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 1);
  e.ShadowSent(Tier::kCloud, 0);
  for (int i = 0; i < Exploration::kSlowChecks; ++i) {
    slow_shadow();
    EXPECT_EQ(e.FollowUps(Tier::kCloud), 1) << i;
    e.ShadowSent(Tier::kCloud, 0);  // the re-check goes out
    EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);
  }
  slow_shadow();
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);  // enough: the stale interval now
  // A shadow as fast as predicted ends the run; a slow one then owes none
  // until the next stall.
  e.Served(Tier::kCloud, Took(Tier::kCloud, 200), {+180, 0, 0, 0});
  e.ShadowSent(Tier::kCloud, 0);
  e.ShadowProbed(Tier::kCloud, Took(Tier::kCloud, 20), {0, 0, 0, 0}, false, 40);
  slow_shadow();
  EXPECT_EQ(e.FollowUps(Tier::kCloud), 0);
}

TEST(ExplorationTest, AFirstMeasurementEarnsFollowUpsOnlyIfCompetitive) {
  Exploration slow;
  // 93 ms warm (+150 ms load) against an edge at 17: not within twice.
  slow.Probed(Tier::kCloud, Took(Tier::kCloud, 243, 150), {0, 0, 0, 0}, true, 17);
  EXPECT_EQ(slow.FollowUps(Tier::kCloud), 0);
  Exploration close;
  // 30 ms warm (+150 load) against 17: within twice.
  close.Probed(Tier::kCloud, Took(Tier::kCloud, 180, 150), {0, 0, 0, 0}, true, 17);
  EXPECT_EQ(close.FollowUps(Tier::kCloud), Exploration::kFollowUps);
  Exploration alone;  // no other tier predicted: always competitive
  alone.Probed(Tier::kEdge, Took(Tier::kEdge, 500), {0, 0, 0, 0}, true, kInf);
  EXPECT_EQ(alone.FollowUps(Tier::kEdge), Exploration::kFollowUps);
}

}  // namespace
}  // namespace stoa::scheduler
