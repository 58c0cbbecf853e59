#include "scheduler/placement_scheduler.h"

#include <atomic>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/exploration.h"

namespace stoa::scheduler {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kSeed = 1234;

PolicyConfig Policy(PolicyKind kind, double explore_budget = 0.0) {
  PolicyConfig p;
  p.policy = kind;
  p.explore_budget = explore_budget;
  p.smoothing = 0.5;
  p.circuit.failures = 3;
  p.circuit.open_ms = 1000;
  return p;
}

// The snapshot of `name`; nullptr when the scheduler has none.
const FunctionSnapshot* Find(const SchedulerSnapshot& s, std::string_view name) {
  for (const FunctionSnapshot& fn : s.functions) {
    if (fn.name == name) return &fn;
  }
  return nullptr;
}

constexpr int kEdge = TierIndex(Tier::kEdge);
constexpr int kCloud = TierIndex(Tier::kCloud);

Outcome Ok(Tier tier, double latency_ms, double load_ms = 0.0) {
  Outcome o;
  o.tier = tier;
  o.latency_ms = latency_ms;
  o.load_ms = load_ms;
  return o;
}

Outcome TierFailure(Tier tier) {
  Outcome o;
  o.tier = tier;
  o.ok = false;
  o.tier_failure = true;
  return o;
}

// Runs Decide then Observe with a scripted warm latency per tier.
class Driver {
 public:
  explicit Driver(const PolicyConfig& policy, common::metrics::Registry* registry = nullptr)
      : scheduler(clock, registry, kSeed, policy) {}

  Decision Step(double edge_ms, double cloud_ms, const std::string& fn = "f",
                TierSet allowed = TierSet::All()) {
    Features features;
    features.warm = TierSet::All();
    auto d = scheduler.Decide(fn, allowed, features);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    double ms = d->tier == Tier::kEdge ? edge_ms : cloud_ms;
    scheduler.Observe(fn, *d, Ok(d->tier, ms));
    clock.AdvanceMicros(10'000);
    return *d;
  }

  SchedulerSnapshot Snap() const { return scheduler.Snapshot(); }
  CircuitState Circuit(Tier t) const { return Snap().tiers[TierIndex(t)].circuit; }

  common::FakeClock clock;
  PlacementScheduler scheduler;
};

TEST(PlacementSchedulerTest, PredictMsForAChosenTier) {
  Driver driver(Policy(PolicyKind::kEdgeOnly, 0.0));
  Features warm;
  warm.warm = TierSet::All();
  EXPECT_EQ(driver.scheduler.PredictMs("f", Tier::kEdge, warm), 0.0);  // nothing observed
  for (int i = 0; i < 20; ++i) driver.Step(12.0, 80.0);
  EXPECT_NEAR(driver.scheduler.PredictMs("f", Tier::kEdge, warm), 12.0, 2.0);
  EXPECT_EQ(driver.scheduler.PredictMs("f", Tier::kCloud, warm), 0.0);  // never ran there
}

TEST(PlacementSchedulerTest, EdgeOnlyAndCloudOnly) {
  for (Tier tier : {Tier::kEdge, Tier::kCloud}) {
    Driver d(Policy(tier == Tier::kEdge ? PolicyKind::kEdgeOnly : PolicyKind::kCloudOnly));
    for (int i = 0; i < 20; ++i) {
      Decision dec = d.Step(1, 100);
      EXPECT_EQ(dec.tier, tier);
      EXPECT_EQ(dec.reason, Reason::kPolicy);
    }
    // The function excludes the tier: the allowed one, reason failover.
    Tier other = tier == Tier::kEdge ? Tier::kCloud : Tier::kEdge;
    Decision dec = d.Step(1, 1, "g", TierSet::Of(other));
    EXPECT_EQ(dec.tier, other);
    EXPECT_EQ(dec.reason, Reason::kFailover);
  }
}

TEST(PlacementSchedulerTest, FixedPolicyDoesNotFailOverWhenItsTierIsOpen) {
  Driver d(Policy(PolicyKind::kEdgeOnly));
  Decision edge{Tier::kEdge, Reason::kPolicy, 0};
  for (int i = 0; i < 3; ++i) d.scheduler.Observe("f", edge, TierFailure(Tier::kEdge));
  auto r = d.scheduler.Decide("f", TierSet::All(), Features{});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no tier available"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("edge_only requires edge"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("edge: circuit open"));
}

TEST(PlacementSchedulerTest, RoundRobinAlternates) {
  Driver d(Policy(PolicyKind::kRoundRobin));
  std::map<Tier, int> count;
  Tier last = d.Step(1, 1).tier;
  for (int i = 0; i < 200; ++i) {
    Decision dec = d.Step(1, 1);
    EXPECT_NE(dec.tier, last);
    EXPECT_EQ(dec.reason, Reason::kPolicy);
    last = dec.tier;
    ++count[dec.tier];
  }
  EXPECT_EQ(count[Tier::kEdge], 100);
  EXPECT_EQ(count[Tier::kCloud], 100);
}

TEST(PlacementSchedulerTest, RoundRobinSkipsOpenTier) {
  Driver d(Policy(PolicyKind::kRoundRobin));
  for (int i = 0; i < 3; ++i) {
    d.scheduler.Observe("f", {Tier::kCloud, Reason::kPolicy, 0}, TierFailure(Tier::kCloud));
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(d.Step(1, 1).tier, Tier::kEdge);
}

TEST(PlacementSchedulerTest, RandomIsRoughlyUniformAndSeeded) {
  Driver a(Policy(PolicyKind::kRandom));
  Driver b(Policy(PolicyKind::kRandom));
  int edge = 0;
  constexpr int kN = 4000;
  for (int i = 0; i < kN; ++i) {
    Decision x = a.Step(1, 1);
    EXPECT_EQ(x.tier, b.Step(1, 1).tier);  // same seed, same sequence
    edge += x.tier == Tier::kEdge;
  }
  EXPECT_NEAR(edge, kN / 2, 200);  // sd ≈ 32
}

TEST(PlacementSchedulerTest, PredictiveExploresThenConvergesThenSwitches) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  Decision first = d.Step(20, 5);
  EXPECT_EQ(first.tier, Tier::kEdge);
  EXPECT_EQ(first.reason, Reason::kExplore);
  EXPECT_EQ(first.predicted_ms, 0.0);
  Decision second = d.Step(20, 5);
  EXPECT_EQ(second.tier, Tier::kCloud);
  EXPECT_EQ(second.reason, Reason::kExplore);
  for (int i = 0; i < 50; ++i) {
    Decision dec = d.Step(20, 5);
    EXPECT_EQ(dec.tier, Tier::kCloud);
    EXPECT_EQ(dec.reason, Reason::kPredictedBest);
    EXPECT_NEAR(dec.predicted_ms, 5.0, 1e-6);
  }
  // The cloud slows down to 40 ms: once its estimate passes the edge's
  // 20 ms the edge takes over (no exploration needed).
  int steps = 0;
  while (d.Step(20, 40).tier == Tier::kCloud) ASSERT_LT(++steps, 10);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(d.Step(20, 40).tier, Tier::kEdge);
}

// A call to the cloud that is long past due (the gateway's overdue feature)
// moves the next request to the edge before any slow answer arrives, and
// the cloud is back once no call is overdue.
TEST(PlacementSchedulerTest, AnOverdueCallMovesRequestsAwayUntilItAnswers) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  for (int i = 0; i < 30; ++i) d.Step(20, 5);
  Features features;
  features.warm = TierSet::All();
  features.overdue_ms[kCloud] = 40.0;
  auto late = d.scheduler.Decide("f", TierSet::All(), features);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->tier, Tier::kEdge);
  EXPECT_NEAR(late->predicted_ms, 20.0, 2.0);
  Features small;
  small.warm = TierSet::All();
  small.overdue_ms[kCloud] = 10.0;  // 5 + 10 < 20: still the cloud
  auto still = d.scheduler.Decide("f", TierSet::All(), small);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->tier, Tier::kCloud);
  EXPECT_NEAR(still->predicted_ms, 15.0, 1.0);
  EXPECT_EQ(d.Step(20, 5).tier, Tier::kCloud);
}

TEST(PlacementSchedulerTest, PredictiveDiscoversAFasterTierByExploring) {
  PolicyConfig p = Policy(PolicyKind::kPredictive, 0.1);
  p.stale_probe = StaleProbe::kRoute;  // the request itself probes (shadows: adaptation_test)
  Driver d(p);
  for (int i = 0; i < 100; ++i) d.Step(10, 30);
  // The cloud becomes much faster; only probes can tell.
  int cloud_best = 0;
  for (int i = 0; i < 300; ++i) {
    Decision dec = d.Step(10, 2);
    if (i >= 200 && dec.tier == Tier::kCloud && dec.reason == Reason::kPredictedBest) {
      ++cloud_best;
    }
  }
  EXPECT_GT(cloud_best, 80);  // the last 100: ~90 % predicted-best on the cloud
}

TEST(PlacementSchedulerTest, ColdEstimateAppliesOnlyToNonWarmTiers) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  Features cold_everywhere;
  auto r = d.scheduler.Decide("f", TierSet::All(), cold_everywhere);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->tier, Tier::kEdge);
  d.scheduler.Observe("f", *r, Ok(Tier::kEdge, 10));  // edge: warm 10, no cold start seen
  r = d.scheduler.Decide("f", TierSet::All(), cold_everywhere);
  ASSERT_EQ(r->tier, Tier::kCloud);
  d.scheduler.Observe("f", *r, Ok(Tier::kCloud, 105, 100));  // cloud: warm 5, cold 100

  Features edge_warm;
  edge_warm.warm = TierSet::Of(Tier::kEdge);
  r = d.scheduler.Decide("f", TierSet::All(), edge_warm);
  EXPECT_EQ(r->tier, Tier::kEdge);  // 10 < 5 + 100
  EXPECT_NEAR(r->predicted_ms, 10.0, 1e-6);

  Features both_warm;
  both_warm.warm = TierSet::All();
  r = d.scheduler.Decide("f", TierSet::All(), both_warm);
  EXPECT_EQ(r->tier, Tier::kCloud);  // 5 < 10
  EXPECT_NEAR(r->predicted_ms, 5.0, 1e-6);

  Features cloud_warm;
  cloud_warm.warm = TierSet::Of(Tier::kCloud);
  r = d.scheduler.Decide("f", TierSet::All(), cloud_warm);
  EXPECT_EQ(r->tier, Tier::kCloud);  // 5 < 10 + default cold
  SchedulerSnapshot state = d.Snap();
  const FunctionSnapshot* f = Find(state, "f");
  ASSERT_NE(f, nullptr);
  EXPECT_NEAR(f->tiers[kEdge].predicted_ms, 10.0 + ColdTerm::kDefaultMs, 1e-6);
  EXPECT_NEAR(f->tiers[kCloud].prediction.terms[TermIndex(Term::kCold)].mean_ms, 100.0, 1e-9);
  EXPECT_FALSE(f->tiers[kEdge].model.cold_measured);
}

TEST(PlacementSchedulerTest, ExploreBudgetZeroNeverExplores) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  d.Step(10, 20);
  d.Step(10, 20);
  for (int i = 0; i < 1000; ++i) {
    Decision dec = d.Step(10, 20);
    ASSERT_EQ(dec.reason, Reason::kPredictedBest);
    ASSERT_EQ(dec.tier, Tier::kEdge);
  }
}

TEST(PlacementSchedulerTest, ExplorationProbesStaleTiersWithinTheBudget) {
  // Steps are 10 ms apart: the losing tier turns stale after 25 steps, so
  // with a 50 % budget staleness is the limit; with 1 % the budget is.
  for (double budget : {0.5, 0.01}) {
    PolicyConfig p = Policy(PolicyKind::kPredictive, budget);
    p.stale_probe = StaleProbe::kRoute;
    Driver d(p);
    d.Step(10, 20);
    d.Step(10, 20);
    int explored = 0;
    constexpr int kN = 2000;
    for (int i = 0; i < kN; ++i) {
      Decision dec = d.Step(10, 20);
      if (dec.reason == Reason::kExplore) {
        EXPECT_EQ(dec.tier, Tier::kCloud);
        ++explored;
      } else {
        EXPECT_EQ(dec.tier, Tier::kEdge);
      }
    }
    // + the follow-up probes after the first measurement of the cloud.
    const int stale_limit = kN / 25 + 1 + Exploration::kFollowUps;
    EXPECT_LE(explored, std::min<int>(stale_limit, budget * (kN + 2) + 1)) << budget;
    EXPECT_GE(explored, std::min<int>(stale_limit, budget * kN) - 2) << budget;
  }
}

TEST(PlacementSchedulerTest, CircuitOpensFailsOverHalfOpensAndCloses) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  for (int i = 0; i < 10; ++i) d.Step(20, 5);  // converged on the cloud
  Decision cloud{Tier::kCloud, Reason::kPredictedBest, 5};
  d.scheduler.Observe("f", cloud, TierFailure(Tier::kCloud));
  d.scheduler.Observe("f", cloud, TierFailure(Tier::kCloud));
  EXPECT_EQ(d.Step(20, 5).tier, Tier::kCloud);  // 2 < 3: still closed; success resets
  for (int i = 0; i < 3; ++i) d.scheduler.Observe("f", cloud, TierFailure(Tier::kCloud));
  EXPECT_EQ(d.Circuit(Tier::kCloud), CircuitState::kOpen);
  EXPECT_EQ(d.Snap().tiers[kCloud].consecutive_failures, 3);

  for (int i = 0; i < 5; ++i) {
    Decision dec = d.Step(20, 5);
    EXPECT_EQ(dec.tier, Tier::kEdge);
    EXPECT_EQ(dec.reason, Reason::kFailover);
  }
  d.clock.AdvanceMicros(940'000);  // + 5 steps of 10 ms: 990 ms open
  EXPECT_EQ(d.Step(20, 5).tier, Tier::kEdge);
  EXPECT_EQ(d.Circuit(Tier::kCloud), CircuitState::kHalfOpen);

  // One probe goes to the cloud; while it is in flight others fail over.
  auto probe = d.scheduler.Decide("f", TierSet::All(), Features{0, 1, TierSet::All()});
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(probe->tier, Tier::kCloud);
  auto other = d.scheduler.Decide("f", TierSet::All(), Features{0, 1, TierSet::All()});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->tier, Tier::kEdge);
  EXPECT_EQ(other->reason, Reason::kFailover);
  d.scheduler.Observe("f", *probe, Ok(Tier::kCloud, 5));
  EXPECT_EQ(d.Circuit(Tier::kCloud), CircuitState::kClosed);
  EXPECT_EQ(d.Snap().tiers[kCloud].consecutive_failures, 0);
  EXPECT_EQ(d.Step(20, 5).tier, Tier::kCloud);
}

TEST(PlacementSchedulerTest, FailedProbeReopens) {
  Driver d(Policy(PolicyKind::kCloudOnly));
  for (int i = 0; i < 3; ++i) {
    d.scheduler.Observe("f", {Tier::kCloud, Reason::kPolicy, 0}, TierFailure(Tier::kCloud));
  }
  d.clock.AdvanceMicros(1'000'000);
  auto probe = d.scheduler.Decide("f", TierSet::All(), Features{});
  ASSERT_TRUE(probe.ok());
  d.scheduler.Observe("f", *probe, TierFailure(Tier::kCloud));
  EXPECT_EQ(d.Circuit(Tier::kCloud), CircuitState::kOpen);
  EXPECT_EQ(d.scheduler.Decide("f", TierSet::All(), Features{}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(PlacementSchedulerTest, BadRequestsDoNotOpenTheCircuit) {
  Driver d(Policy(PolicyKind::kEdgeOnly));
  Outcome bad;
  bad.tier = Tier::kEdge;
  bad.ok = false;
  for (int i = 0; i < 10; ++i) d.scheduler.Observe("f", {}, bad);
  EXPECT_EQ(d.Circuit(Tier::kEdge), CircuitState::kClosed);
  EXPECT_TRUE(d.scheduler.Decide("f", TierSet::All(), Features{}).ok());
}

TEST(PlacementSchedulerTest, UnavailableWhenAllAllowedTiersAreOpen) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  for (int i = 0; i < 3; ++i) {
    d.scheduler.Observe("f", {Tier::kCloud, Reason::kPolicy, 0}, TierFailure(Tier::kCloud));
  }
  auto r = d.scheduler.Decide("f", TierSet::Of(Tier::kCloud), Features{});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("no tier available for 'f'"));
  EXPECT_THAT(msg, HasSubstr("cloud: circuit open after 3 consecutive failures, retry in 1000 ms"));
  EXPECT_THAT(msg, HasSubstr("edge: not allowed"));
  EXPECT_TRUE(d.scheduler.Decide("f", TierSet::All(), Features{}).ok());  // the edge is fine

  for (int i = 0; i < 3; ++i) {
    d.scheduler.Observe("f", {Tier::kEdge, Reason::kPolicy, 0}, TierFailure(Tier::kEdge));
  }
  r = d.scheduler.Decide("f", TierSet::All(), Features{});
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("edge: circuit open"));
}

TEST(PlacementSchedulerDeathTest, EmptyAllowedSetIsACallerBug) {
  Driver d(Policy(PolicyKind::kPredictive));
  EXPECT_DEATH((void)d.scheduler.Decide("f", TierSet(), Features{}), "allowed tier");
}

TEST(PlacementSchedulerTest, SetPolicyAppliesToNextDecide) {
  Driver d(Policy(PolicyKind::kEdgeOnly));
  EXPECT_EQ(d.Step(1, 1).tier, Tier::kEdge);
  d.scheduler.SetPolicy(Policy(PolicyKind::kCloudOnly));
  EXPECT_EQ(d.scheduler.GetPolicy().policy, PolicyKind::kCloudOnly);
  EXPECT_EQ(d.Step(1, 1).tier, Tier::kCloud);
  PolicyConfig strict = Policy(PolicyKind::kCloudOnly);
  strict.circuit.failures = 1;
  d.scheduler.SetPolicy(strict);
  d.scheduler.Observe("f", {Tier::kCloud, Reason::kPolicy, 0}, TierFailure(Tier::kCloud));
  EXPECT_EQ(d.Circuit(Tier::kCloud), CircuitState::kOpen);
  EXPECT_EQ(d.Snap().policy.circuit.failures, 1);
}

TEST(PlacementSchedulerTest, ForgetDropsLearnedState) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  for (int i = 0; i < 5; ++i) d.Step(20, 5);
  EXPECT_NE(Find(d.Snap(), "f"), nullptr);
  d.scheduler.Forget("f");
  EXPECT_EQ(Find(d.Snap(), "f"), nullptr);
  Decision dec = d.Step(20, 5);
  EXPECT_EQ(dec.tier, Tier::kEdge);
  EXPECT_EQ(dec.reason, Reason::kExplore);
}

TEST(PlacementSchedulerTest, SnapshotShape) {
  Driver d(Policy(PolicyKind::kPredictive, 0.0));
  d.Step(20, 5);
  d.Step(20, 5);
  d.Step(20, 5);
  d.scheduler.Observe("f", {Tier::kEdge, Reason::kForced, 0}, Ok(Tier::kEdge, 30));
  d.scheduler.Observe("g", {Tier::kCloud, Reason::kForced, 0}, Ok(Tier::kCloud, 8));
  SchedulerSnapshot s = d.Snap();
  EXPECT_EQ(s.policy.policy, PolicyKind::kPredictive);
  EXPECT_EQ(s.tiers[kEdge].circuit, CircuitState::kClosed);
  EXPECT_FALSE(s.tiers[kEdge].in_process);
  EXPECT_TRUE(std::isnan(s.tiers[kCloud].link_rtt_ms));  // no probe yet
  ASSERT_EQ(s.functions.size(), 2u);
  EXPECT_EQ(s.functions[0].name, "f");  // by name
  EXPECT_EQ(s.functions[1].name, "g");
  const FunctionSnapshot& f = s.functions[0];
  EXPECT_FALSE(f.policy_override.has_value());
  EXPECT_EQ(f.accuracy.comparisons, 0u);
  const FunctionTierSnapshot& edge = f.tiers[kEdge];
  EXPECT_EQ(edge.model.observations, 2u);
  EXPECT_TRUE(edge.prediction.measured);
  EXPECT_NEAR(edge.prediction.terms[TermIndex(Term::kExec)].mean_ms, 25.0, 1e-6);
  EXPECT_DOUBLE_EQ(edge.model.last_error[TermIndex(Term::kExec)], 10.0);  // 30 − 20
  EXPECT_DOUBLE_EQ(edge.model.last_latency_ms, 30.0);
  EXPECT_EQ(edge.decisions[ReasonIndex(Reason::kExplore)], 1u);
  EXPECT_EQ(edge.decisions[ReasonIndex(Reason::kForced)], 1u);
  const FunctionTierSnapshot& cloud = f.tiers[kCloud];
  EXPECT_EQ(cloud.model.observations, 2u);
  EXPECT_EQ(cloud.decisions[ReasonIndex(Reason::kExplore)], 1u);
  EXPECT_EQ(cloud.decisions[ReasonIndex(Reason::kPredictedBest)], 1u);
  EXPECT_EQ(cloud.decisions[ReasonIndex(Reason::kShadow)], 0u);
  EXPECT_NEAR(cloud.predicted_ms, 5.0, 1e-6);
  // A function only forced so far: nothing predicted by a decision.
  EXPECT_TRUE(std::isnan(s.functions[1].tiers[kCloud].predicted_ms));
  EXPECT_FALSE(s.functions[1].tiers[kEdge].prediction.measured);
}

TEST(PlacementSchedulerTest, SnapshotShowsOverridesAccuracyAndLinks) {
  common::FakeClock clock;
  SchedulerOptions options;
  options.in_process.Add(Tier::kEdge);
  PlacementScheduler scheduler(clock, nullptr, kSeed, Policy(PolicyKind::kPredictive), options);
  PolicyConfig p95 = Policy(PolicyKind::kSlo);
  p95.objective = Objective::kP95;
  scheduler.SetFunctionPolicy("f", p95);
  scheduler.ObserveComparison("f", Tier::kCloud, {40.0, 26.0});
  scheduler.ObserveComparison("f", Tier::kCloud, {40.0, 50.0});
  scheduler.ObserveLink(Tier::kCloud, true, 20.0);
  SchedulerSnapshot s = scheduler.Snapshot();
  EXPECT_TRUE(s.tiers[kEdge].in_process);
  EXPECT_DOUBLE_EQ(s.tiers[kCloud].link_rtt_ms, 20.0);
  const FunctionSnapshot* f = Find(s, "f");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->policy_override.has_value());
  EXPECT_EQ(f->policy_override->objective, Objective::kP95);
  EXPECT_EQ(f->accuracy.comparisons, 2u);
  EXPECT_EQ(f->accuracy.correct, 1u);
  EXPECT_DOUBLE_EQ(f->accuracy.regret_ms, 10.0);
}

// Shadow runs (Decision::shadow) teach the model but are no placements,
// whether the caller marks them by reason, by Outcome::shadow or both.
TEST(PlacementSchedulerTest, ShadowRunsAreNotPlacements) {
  common::metrics::Registry registry;
  Driver d(Policy(PolicyKind::kEdgeOnly), &registry);
  Outcome by_flag = Ok(Tier::kCloud, 9);
  by_flag.shadow = true;
  d.scheduler.Observe("f", {Tier::kCloud, Reason::kShadow, 0}, by_flag);
  d.scheduler.Observe("f", {Tier::kCloud, Reason::kShadow, 0}, Ok(Tier::kCloud, 9));
  d.scheduler.Observe("f", {Tier::kCloud, Reason::kForced, 0}, by_flag);
  const FunctionSnapshot* f = Find(d.Snap(), "f");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->tiers[kCloud].model.observations, 3u);              // learned from
  for (uint64_t n : f->tiers[kCloud].decisions) EXPECT_EQ(n, 0u);  // not counted
  EXPECT_THAT(registry.Serialize(), ::testing::Not(HasSubstr("reason=\"shadow\"")));
}

TEST(PlacementSchedulerTest, ExportsMetrics) {
  common::metrics::Registry registry;
  Driver d(Policy(PolicyKind::kPredictive, 0.0), &registry);
  d.Step(20, 5, "digits");
  d.Step(20, 5, "digits");
  for (int i = 0; i < 3; ++i) d.Step(20, 5, "digits");
  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE stoa_placements_total counter"));
  EXPECT_THAT(text, HasSubstr("stoa_placements_total{function=\"digits\",reason=\"explore\",target="
                              "\"edge\",tier=\"edge\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("stoa_placements_total{function=\"digits\",reason=\"predicted-best\","
                              "target=\"cloud\",tier=\"cloud\"} 3\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "stoa_predicted_latency_seconds{function=\"digits\",target=\"cloud\",tier=\"cloud\"} "
          "0.0050000000000000001\n"));
}

TEST(PlacementSchedulerTest, ForgetRemovesTheFunctionsSeries) {
  common::metrics::Registry registry;
  Driver d(Policy(PolicyKind::kPredictive, 0.0), &registry);
  for (int i = 0; i < 3; ++i) {
    d.Step(20, 5, "digits");
    d.Step(20, 5, "other");
  }
  d.scheduler.ObserveComparison("digits", Tier::kEdge, {20, 5});
  const size_t both = registry.series();
  ASSERT_THAT(registry.Serialize(), HasSubstr("function=\"digits\""));
  ASSERT_THAT(registry.Serialize(),
              HasSubstr("stoa_placement_accuracy_ratio{function=\"digits\"}"));

  d.scheduler.Forget("digits");
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("function=\"digits\"")));
  EXPECT_THAT(text, HasSubstr("stoa_placements_total{function=\"other\""));
  EXPECT_EQ(registry.series() * 2, both);  // the two functions had the same series

  // Used again: its series come back with it, from zero.
  d.Step(20, 5, "digits");
  EXPECT_EQ(registry.series(), both);
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_placements_total{function=\"digits\",reason="
                                              "\"explore\",target=\"edge\",tier=\"edge\"} 1\n"));
}

TEST(PlacementSchedulerTest, ReasonNames) {
  EXPECT_EQ(ReasonName(Reason::kShadow), "shadow");
  EXPECT_EQ(ReasonName(Reason::kPredictedBest), "predicted-best");
  EXPECT_EQ(ReasonName(Reason::kHedge), "hedge");
  EXPECT_EQ(ReasonName(Reason::kPolicy), "policy");
  EXPECT_EQ(ReasonName(Reason::kForced), "forced");
  EXPECT_EQ(ReasonName(Reason::kFailover), "failover");
  EXPECT_EQ(ReasonName(Reason::kExplore), "explore");
  EXPECT_EQ(ReasonName(Reason::kBackup), "backup");
}

TEST(PlacementSchedulerTest, ConcurrentDecideObserveIsSafe) {
  common::metrics::Registry registry;
  common::FakeClock clock;
  PolicyConfig policy = Policy(PolicyKind::kPredictive, 0.1);
  PlacementScheduler scheduler(clock, &registry, kSeed, policy);
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::atomic<int> decided{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Features features;
      features.warm = TierSet::All();
      for (int i = 0; i < kIterations; ++i) {
        std::string fn = "fn" + std::to_string((i + t) % 8);
        auto d = scheduler.Decide(fn, TierSet::All(), features);
        if (!d.ok()) continue;
        decided.fetch_add(1);
        Outcome o = Ok(d->tier, d->tier == Tier::kEdge ? 10 + t : 5 + i % 7, i % 50 == 0 ? 40 : 0);
        if (i % 97 == 0) o = TierFailure(d->tier);
        scheduler.Observe(fn, *d, o);
        if (t == 0 && i % 1000 == 0) {
          scheduler.SetPolicy(
              Policy(i % 2000 == 0 ? PolicyKind::kRoundRobin : PolicyKind::kPredictive, 0.1));
          EXPECT_LE(scheduler.Snapshot().functions.size(), 8u);
          clock.AdvanceMicros(100'000);
        }
        if (t == 1 && i % 5000 == 0) scheduler.Forget("fn7");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(decided.load(), kThreads * kIterations / 2);
  // Functions never forgotten: every successful Decide was counted once.
  uint64_t counted = 0;
  for (const FunctionSnapshot& fn : scheduler.Snapshot().functions) {
    for (const FunctionTierSnapshot& tier : fn.tiers) {
      for (uint64_t n : tier.decisions) counted += n;
    }
  }
  EXPECT_GT(counted, 0u);
  EXPECT_LE(counted, static_cast<uint64_t>(decided.load()));
  // A state built while fn7 was forgotten holds exported series, not ones
  // Forget removed: another decision shows up in the exposition.
  Features features;
  features.warm = TierSet::All();
  ASSERT_TRUE(scheduler.Decide("fn7", TierSet::All(), features).ok());
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_placements_total{function=\"fn7\""));
}

}  // namespace
}  // namespace stoa::scheduler

namespace stoa::scheduler {
namespace {

// A fresh function under load: the first request to an unmeasured tier is
// still on its way when the next decisions come; they must not all go
// there. And a first measurement far slower than the other tier earns no
// follow-up probes.
TEST(PlacementSchedulerTest, FirstProbeOfATierIsNotRepeatedWhileInFlightNorFollowedUpWhenSlow) {
  common::FakeClock clock;
  PlacementScheduler scheduler(clock, nullptr, kSeed, Policy(PolicyKind::kPredictive, 0.02));
  Features features;
  features.warm = TierSet::All();
  auto d = scheduler.Decide("f", TierSet::All(), features);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tier, Tier::kEdge);
  EXPECT_EQ(d->reason, Reason::kExplore);
  scheduler.Observe("f", *d, Ok(Tier::kEdge, 17));
  clock.AdvanceMicros(10'000);
  d = scheduler.Decide("f", TierSet::All(), features);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tier, Tier::kCloud);  // never measured: tried once
  const Decision cloud_probe = *d;
  // While that request is out (a cold start over 4G takes a while), the
  // next requests stay on the measured edge.
  for (int i = 0; i < 20; ++i) {
    clock.AdvanceMicros(10'000);
    d = scheduler.Decide("f", TierSet::All(), features);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->tier, Tier::kEdge) << "decision " << i;
  }
  // The probe comes back 93 ms warm (+ 150 ms load): much slower than the
  // edge, so no follow-up probes.
  scheduler.Observe("f", cloud_probe, Ok(Tier::kCloud, 243, 150));
  for (int i = 0; i < 10; ++i) {
    clock.AdvanceMicros(10'000);
    d = scheduler.Decide("f", TierSet::All(), features);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->tier, Tier::kEdge) << "decision " << i;
    scheduler.Observe("f", *d, Ok(Tier::kEdge, 17));
  }
}

}  // namespace
}  // namespace stoa::scheduler
