// The feedback controller end to end on scripted tiers: step changes in
// RTT, bandwidth, queueing and execution speed; cold tiers; hedging; shadow
// measurement; per-function policies. Fake clock, deterministic.
#include <cmath>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/placement_scheduler.h"

namespace stoa::scheduler {
namespace {

using ::testing::HasSubstr;

// An in-process edge and a remote cloud with scripted conditions.
struct World {
  double edge_exec_ms = 40;
  double cloud_rtt_ms = 20;
  double cloud_ms_per_kb = 0.1;
  double cloud_exec_ms = 5;
  uint32_t cloud_queue_depth = 0;  // requests ahead, 10 ms each
  double cloud_load_ms = 300;
  double kb = 10;
  bool cloud_loaded = true;
};

class Rig {
 public:
  explicit Rig(PolicyConfig policy = {}, common::metrics::Registry* registry = nullptr)
      : scheduler(clock, registry, 7, policy, Options()) {}

  static SchedulerOptions Options() {
    SchedulerOptions o;
    o.in_process.Add(Tier::kEdge);
    return o;
  }

  // Latency each tier would take now.
  double Latency(Tier t) const {
    if (t == Tier::kEdge) return w.edge_exec_ms;
    return w.cloud_rtt_ms + w.cloud_ms_per_kb * (w.kb + 1) + w.cloud_queue_depth * 10.0 +
           w.cloud_exec_ms + (w.cloud_loaded ? 0 : w.cloud_load_ms);
  }

  Decision Step() {
    Features f;
    f.request_bytes = static_cast<uint64_t>(w.kb * 1000);
    f.warm = TierSet::Of(Tier::kEdge);
    if (w.cloud_loaded) f.warm.Add(Tier::kCloud);
    f.queue_depth[TierIndex(Tier::kCloud)] = reported_depth;
    auto d = scheduler.Decide("f", TierSet::All(), f);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    const double latency = Latency(d->tier);
    Outcome o;
    o.tier = d->tier;
    o.request_bytes = f.request_bytes;
    o.response_bytes = 1000;
    if (d->tier == Tier::kEdge) {
      o.exec_ms = w.edge_exec_ms;
    } else {
      o.exec_ms = w.cloud_exec_ms;
      o.queue_ms = w.cloud_queue_depth * 10.0;
      o.load_ms = w.cloud_loaded ? 0 : w.cloud_load_ms;
      o.ahead = reported_depth;
      reported_depth = w.cloud_queue_depth;
      w.cloud_loaded = true;
    }
    o.server_ms = o.exec_ms + o.queue_ms + o.load_ms;
    o.latency_ms = latency;
    scheduler.Observe("f", *d, o);
    // Shadow runs, as the dispatcher makes them: observed, never answering.
    for (Tier t : AllTiers()) {
      if (d->shadow.Contains(t)) RunShadow(t, f.request_bytes);
    }
    clock.AdvanceMicros(10'000);
    return *d;
  }

  void RunShadow(Tier t, uint64_t request_bytes) {
    Outcome o;
    o.tier = t;
    o.shadow = true;
    o.request_bytes = request_bytes;
    o.response_bytes = 1000;
    o.latency_ms = Latency(t);
    if (t == Tier::kEdge) {
      o.exec_ms = w.edge_exec_ms;
    } else {
      o.exec_ms = w.cloud_exec_ms;
      o.queue_ms = w.cloud_queue_depth * 10.0;
      o.load_ms = w.cloud_loaded ? 0 : w.cloud_load_ms;
      o.ahead = reported_depth;
      reported_depth = w.cloud_queue_depth;
      w.cloud_loaded = true;
    }
    o.server_ms = o.exec_ms + o.queue_ms + o.load_ms;
    ++shadows;
    scheduler.Observe("f", Decision(t, Reason::kShadow), o);
  }

  // Steps until `tier` is chosen by the model (predicted-best); the count.
  int StepsUntil(Tier tier, int limit) {
    for (int i = 1; i <= limit; ++i) {
      Decision d = Step();
      if (d.tier == tier && d.reason == Reason::kPredictedBest) return i;
    }
    return limit + 1;
  }

  // The snapshot of function "f" (which every test drives).
  FunctionSnapshot F() const {
    SchedulerSnapshot s = scheduler.Snapshot();
    for (FunctionSnapshot& fn : s.functions) {
      if (fn.name == "f") return fn;
    }
    ADD_FAILURE() << "no function f";
    return {};
  }
  TierSnapshot TierState(Tier t) const { return scheduler.Snapshot().tiers[TierIndex(t)]; }

  World w;
  uint32_t reported_depth = 0;
  int shadows = 0;
  common::FakeClock clock;
  PlacementScheduler scheduler;
};

PolicyConfig NoExplore() {
  PolicyConfig p;
  p.explore_budget = 0;
  return p;
}

TEST(FeedbackControlTest, RttStepMovesTrafficToTheEdge) {
  Rig r(NoExplore());
  EXPECT_LE(r.StepsUntil(Tier::kCloud, 10), 10);  // 26 ms vs 40 ms
  for (int i = 0; i < 30; ++i) ASSERT_EQ(r.Step().tier, Tier::kCloud);
  r.w.cloud_rtt_ms = 90;  // 96 ms vs 40 ms
  EXPECT_LE(r.StepsUntil(Tier::kEdge, 5), 3);
}

TEST(FeedbackControlTest, BandwidthStepMovesTrafficToTheEdge) {
  Rig r(NoExplore());
  r.w.kb = 50;
  r.w.cloud_ms_per_kb = 0.2;  // 20 + 10.2 + 5 ≈ 35 ms vs 40 ms
  EXPECT_LE(r.StepsUntil(Tier::kCloud, 10), 10);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(r.Step().tier, Tier::kCloud);
  r.w.cloud_ms_per_kb = 1.1;  // 4G-like: ≈ 81 ms
  EXPECT_LE(r.StepsUntil(Tier::kEdge, 5), 3);
}

TEST(FeedbackControlTest, NetTermSeparatesRttFromBandwidth) {
  // Requests of varying size teach RTT and per-kB cost apart: a large
  // request goes to the edge, a small one to the cloud.
  Rig r(NoExplore());
  r.w.cloud_ms_per_kb = 0.5;
  for (int i = 0; i < 60; ++i) {
    r.w.kb = 2 + (i % 5) * 10;  // 2..42 kB: every request fits the cloud
    r.Step();
  }
  r.w.kb = 100;  // 20 + 50.5 + 5 > 40: the edge, without ever trying it
  Decision big = r.Step();
  EXPECT_EQ(big.tier, Tier::kEdge);
  r.w.kb = 2;
  EXPECT_EQ(r.Step().tier, Tier::kCloud);
  LatencyModel::Snapshot cloud = r.F().tiers[TierIndex(Tier::kCloud)].model;
  EXPECT_NEAR(cloud.rtt_ms, 20, 1.0);
  EXPECT_NEAR(cloud.ms_per_kb, 0.5, 0.05);
}

TEST(FeedbackControlTest, QueueingOnTheCloudMovesTrafficToTheEdge) {
  Rig r(NoExplore());
  EXPECT_LE(r.StepsUntil(Tier::kCloud, 10), 10);
  for (int i = 0; i < 20; ++i) r.Step();
  r.w.cloud_queue_depth = 8;  // + 80 ms of queue
  EXPECT_LE(r.StepsUntil(Tier::kEdge, 5), 3);
}

TEST(FeedbackControlTest, ExecSpeedUpOfTheLosingTierIsFoundByExploring) {
  PolicyConfig p;
  p.explore_budget = 0.05;
  Rig r(p);
  for (int i = 0; i < 50; ++i) r.Step();
  r.w.edge_exec_ms = 4;  // the edge gets a fast model: only probes can tell
  // A stale shadow probe is due within 100 steps (1 s); its follow-up
  // shadows settle the model.
  EXPECT_LE(r.StepsUntil(Tier::kEdge, 100), 100);
  int edge = 0;
  for (int i = 0; i < 50; ++i) edge += r.Step().tier == Tier::kEdge;
  EXPECT_GE(edge, 45);
}

TEST(FeedbackControlTest, AMuchSlowerTierIsProbedRarely) {
  // Edge 17 ms, cloud 93 ms (the 4G testbed's digits): each probe of the
  // cloud costs ~76 ms, so the cost budget (2 % of 17 ms per decision)
  // allows one per ~220 decisions, where the count budget alone would allow
  // one per 50.
  PolicyConfig p;
  p.explore_budget = 0.02;
  p.stale_probe = StaleProbe::kRoute;
  Rig r(p);
  r.w.edge_exec_ms = 17;
  r.w.cloud_rtt_ms = 87;
  r.w.cloud_exec_ms = 5;
  r.w.cloud_ms_per_kb = 0.0;
  for (int i = 0; i < 100; ++i) r.Step();  // both measured
  int explores = 0;
  double extra_ms = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    Decision d = r.Step();
    if (d.reason == Reason::kExplore) {
      ++explores;
      extra_ms += r.Latency(d.tier) - r.Latency(Tier::kEdge);
    }
  }
  EXPECT_GE(explores, 1);  // still probed now and then
  EXPECT_LE(explores, n * 0.02 * 17 / 75 + 4);
  EXPECT_LE(extra_ms / n, 0.02 * 17 * 1.25);  // ≈ 2 % of the best latency
}

TEST(FeedbackControlTest, LinkProbesTrackTheNetTermWithoutSendingThere) {
  Rig r(NoExplore());
  r.scheduler.ObserveLink(Tier::kCloud, true, 20);
  EXPECT_LE(r.StepsUntil(Tier::kCloud, 10), 10);  // 26 ms vs 40 ms
  for (int i = 0; i < 30; ++i) ASSERT_EQ(r.Step().tier, Tier::kCloud);
  // The link degrades: the probes see it before any request pays for it.
  r.w.cloud_rtt_ms = 200;
  for (int i = 0; i < 10; ++i) r.scheduler.ObserveLink(Tier::kCloud, true, 200);
  Decision d = r.Step();
  EXPECT_EQ(d.tier, Tier::kEdge);
  EXPECT_EQ(d.reason, Reason::kPredictedBest);
  EXPECT_NEAR(r.TierState(Tier::kCloud).link_rtt_ms, 200, 10);  // smoothed
  EXPECT_TRUE(std::isnan(r.TierState(Tier::kEdge).link_rtt_ms));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(r.Step().tier, Tier::kEdge);
  // It recovers: with no exploration at all, the probes alone bring the
  // traffic back.
  r.w.cloud_rtt_ms = 20;
  for (int i = 0; i < 10; ++i) r.scheduler.ObserveLink(Tier::kCloud, true, 20);
  d = r.Step();
  EXPECT_EQ(d.tier, Tier::kCloud);
  EXPECT_EQ(d.reason, Reason::kPredictedBest);
  EXPECT_NEAR(d.predicted_ms, r.Latency(Tier::kCloud), 8);
}

TEST(FeedbackControlTest, FailedLinkProbesOpenTheCircuit) {
  PolicyConfig p = NoExplore();
  p.circuit.failures = 3;
  Rig r(p);
  EXPECT_LE(r.StepsUntil(Tier::kCloud, 10), 10);
  r.scheduler.ObserveLink(Tier::kCloud, false, 0);
  r.scheduler.ObserveLink(Tier::kCloud, false, 0);
  EXPECT_EQ(r.TierState(Tier::kCloud).circuit, CircuitState::kClosed);  // two failures
  r.scheduler.ObserveLink(Tier::kCloud, false, 0);
  EXPECT_EQ(r.TierState(Tier::kCloud).circuit, CircuitState::kOpen);
  Decision d = r.Step();
  EXPECT_EQ(d.tier, Tier::kEdge);
  EXPECT_EQ(d.reason, Reason::kFailover);
}

TEST(FeedbackControlTest, ExecSlowDownIsFollowedWithinAFewRequests) {
  Rig r(NoExplore());
  for (int i = 0; i < 50; ++i) r.Step();
  r.w.cloud_exec_ms = 60;
  EXPECT_LE(r.StepsUntil(Tier::kEdge, 6), 4);
}

TEST(FeedbackControlTest, ColdTierAvoidedForABurstThenChosenOnceWarm) {
  Rig r(NoExplore());
  for (int i = 0; i < 20; ++i) r.Step();  // cloud measured (its first call loaded it)
  // The cloud executor restarted: loading costs ~300 ms again.
  r.w.cloud_loaded = false;
  for (int i = 0; i < 10; ++i) {
    Features f;
    f.warm = TierSet::Of(Tier::kEdge);
    f.request_bytes = 10000;
    auto d = r.scheduler.Decide("f", TierSet::All(), f);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->tier, Tier::kEdge) << i;  // 40 ms beats 26 + 300 ms
    Outcome o;
    o.tier = Tier::kEdge;
    o.exec_ms = o.server_ms = o.latency_ms = 40;
    r.scheduler.Observe("f", *d, o);
  }
  r.w.cloud_loaded = true;  // pushed there in the background: warm again
  EXPECT_EQ(r.Step().tier, Tier::kCloud);
}

TEST(FeedbackControlTest, HedgesOnlyWhenTooCloseToCall) {
  PolicyConfig p = NoExplore();
  p.hedge = true;
  Rig r(p);
  // Noisy cloud around 40 ms, steady edge at 40 ms: too close to call.
  for (int i = 0; i < 40; ++i) {
    r.w.cloud_exec_ms = 14 + (i % 2 ? -10 : 10);
    r.Step();
  }
  r.w.cloud_exec_ms = 14;
  Decision d = r.Step();
  EXPECT_EQ(d.reason, Reason::kHedge);
  EXPECT_EQ(d.hedge.Contains(Tier::kEdge) || d.hedge.Contains(Tier::kCloud), true);
  EXPECT_FALSE(d.hedge.Contains(d.tier));
  // Far apart: the cloud turns very slow (its exec model resets on the
  // step): no hedge.
  r.w.cloud_exec_ms = 400;
  for (int i = 0; i < 6; ++i) r.Step();
  d = r.Step();
  EXPECT_EQ(d.tier, Tier::kEdge);
  EXPECT_NE(d.reason, Reason::kHedge);
  EXPECT_TRUE(d.hedge.Empty());
  const FunctionSnapshot f = r.F();
  EXPECT_GT(f.tiers[TierIndex(Tier::kCloud)].decisions[ReasonIndex(Reason::kHedge)] +
                f.tiers[TierIndex(Tier::kEdge)].decisions[ReasonIndex(Reason::kHedge)],
            0u);
}

// late_hedge (the default): a predicted-best choice names the runner-up as
// its backup, due at FarLateMs of the choice's prediction; none when the
// policy turns it off, for a hedged decision, or for a fixed policy.
TEST(FeedbackControlTest, LateBackupNamesTheRunnerUpDueAtFarLate) {
  PolicyConfig p = NoExplore();
  ASSERT_TRUE(p.late_hedge);
  Rig r(p);
  for (int i = 0; i < 10; ++i) r.Step();
  Decision d = r.Step();
  ASSERT_EQ(d.reason, Reason::kPredictedBest);
  const Tier other = d.tier == Tier::kEdge ? Tier::kCloud : Tier::kEdge;
  EXPECT_TRUE(d.backup.Contains(other));
  EXPECT_FALSE(d.backup.Contains(d.tier));
  EXPECT_NEAR(d.backup_after_ms, FarLateMs(d.predicted_ms), 1e-9);

  p.late_hedge = false;
  Rig off(p);
  for (int i = 0; i < 10; ++i) off.Step();
  d = off.Step();
  EXPECT_TRUE(d.backup.Empty());
  EXPECT_EQ(d.backup_after_ms, 0.0);

  PolicyConfig fixed;
  fixed.policy = PolicyKind::kEdgeOnly;
  Rig edge_only(fixed);
  for (int i = 0; i < 3; ++i) edge_only.Step();
  EXPECT_TRUE(edge_only.Step().backup.Empty());
}

TEST(FeedbackControlTest, ShadowRunsAndAccuracy) {
  common::metrics::Registry registry;
  PolicyConfig p = NoExplore();
  p.shadow_rate = 1.0;
  Rig r(p, &registry);
  for (int i = 0; i < 5; ++i) {
    Decision d = r.Step();
    if (d.reason == Reason::kPredictedBest) {
      EXPECT_TRUE(d.shadow.Contains(d.tier == Tier::kEdge ? Tier::kCloud : Tier::kEdge));
      EXPECT_FALSE(d.shadow.Contains(d.tier));
    }
  }
  r.scheduler.ObserveComparison("f", Tier::kCloud, {40.0, 26.0});  // right
  r.scheduler.ObserveComparison("f", Tier::kCloud, {40.0, 50.0});  // wrong by 10 ms
  r.scheduler.ObserveComparison("f", Tier::kCloud, {NAN, 26.0});   // not a comparison
  AccuracySnapshot acc = r.F().accuracy;
  EXPECT_EQ(acc.comparisons, 2u);
  EXPECT_EQ(acc.correct, 1u);
  EXPECT_DOUBLE_EQ(acc.regret_ms, 10.0);
  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("stoa_placement_accuracy_ratio{function=\"f\"} 0.5"));
  EXPECT_THAT(
      text,
      HasSubstr("stoa_prediction_error_seconds_count{function=\"f\",target=\"cloud\",term=\"exec\","
                "tier=\"cloud\"}"));
  EXPECT_THAT(text, HasSubstr("stoa_placement_regret_seconds_total{function=\"f\"} 0.01"));
}

TEST(FeedbackControlTest, PerFunctionPolicyOverridesTheGlobalOne) {
  Rig r(NoExplore());
  for (int i = 0; i < 20; ++i) r.Step();
  PolicyConfig edge_only;
  edge_only.policy = PolicyKind::kEdgeOnly;
  r.scheduler.SetFunctionPolicy("f", edge_only);
  EXPECT_EQ(r.scheduler.GetFunctionPolicy("f")->policy, PolicyKind::kEdgeOnly);
  EXPECT_FALSE(r.scheduler.GetFunctionPolicy("g").has_value());
  Decision d = r.Step();
  EXPECT_EQ(d.tier, Tier::kEdge);
  EXPECT_EQ(d.reason, Reason::kPolicy);
  auto g = r.scheduler.Decide("g", TierSet::All(), Features{});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->reason, Reason::kExplore);  // the global predictive policy
  ASSERT_TRUE(r.F().policy_override.has_value());
  EXPECT_EQ(r.F().policy_override->policy, PolicyKind::kEdgeOnly);
  r.scheduler.ClearFunctionPolicy("f");
  EXPECT_EQ(r.Step().tier, Tier::kCloud);
  // Forget (a new version) drops the model, not the override.
  r.scheduler.SetFunctionPolicy("f", edge_only);
  r.scheduler.Forget("f");
  EXPECT_TRUE(r.scheduler.GetFunctionPolicy("f").has_value());
}

TEST(FeedbackControlTest, SloUsesThePredictedP95) {
  PolicyConfig p = NoExplore();
  p.policy = PolicyKind::kSlo;
  p.slo_ms = 45;
  Rig r(p);
  // Edge mean 40 ms but a heavy tail: every 4th call takes 90 ms.
  for (int i = 0; i < 80; ++i) {
    r.w.edge_exec_ms = i % 4 == 3 ? 90 : 40;
    r.Step();
  }
  r.w.edge_exec_ms = 40;
  Decision d = r.Step();
  EXPECT_EQ(d.tier, Tier::kCloud);  // p95 of the edge misses 45 ms
  EXPECT_EQ(d.reason, Reason::kPredictedBest);
}

}  // namespace
}  // namespace stoa::scheduler
