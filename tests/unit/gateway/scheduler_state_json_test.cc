#include "gateway/scheduler_state_json.h"

#include <cmath>
#include <string>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/placement_scheduler.h"

namespace stoa::gateway {
namespace {

using Json = nlohmann::json;
using scheduler::Decision;
using scheduler::Features;
using scheduler::Outcome;
using scheduler::PlacementScheduler;
using scheduler::PolicyConfig;
using scheduler::PolicyKind;
using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierSet;

Outcome Ok(Tier tier, double latency_ms) {
  Outcome o;
  o.tier = tier;
  o.latency_ms = latency_ms;
  return o;
}

// A real scheduler after a few decisions: the edge takes 20 ms, the cloud 5.
class SchedulerStateJsonTest : public ::testing::Test {
 protected:
  SchedulerStateJsonTest() : scheduler_(clock_, nullptr, 1234, Policy()) {}

  static PolicyConfig Policy() {
    PolicyConfig p;
    p.policy = PolicyKind::kPredictive;
    p.explore_budget = 0.0;
    p.smoothing = 0.5;
    p.circuit.failures = 3;
    p.circuit.open_ms = 1000;
    return p;
  }

  void Step(const std::string& fn = "f") {
    Features features;
    features.warm = TierSet::All();
    auto d = scheduler_.Decide(fn, TierSet::All(), features);
    ASSERT_TRUE(d.ok()) << d.status();
    scheduler_.Observe(fn, *d, Ok(d->tier, d->tier == Tier::kEdge ? 20 : 5));
    clock_.AdvanceMicros(10'000);
  }

  Json State() const { return Json::parse(SchedulerStateJson(scheduler_.Snapshot())); }

  common::FakeClock clock_;
  PlacementScheduler scheduler_;
};

TEST_F(SchedulerStateJsonTest, Shape) {
  Step();
  Step();
  Step();
  scheduler_.Observe("f", {Tier::kEdge, Reason::kForced, 0}, Ok(Tier::kEdge, 30));
  Json s = State();
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s["policy"]["policy"], "predictive");
  EXPECT_EQ(s["policy"]["circuit"]["failures"], 3);
  EXPECT_EQ(s["tiers"]["edge"]["circuit"], "closed");
  EXPECT_EQ(s["tiers"]["edge"]["consecutive_failures"], 0);
  EXPECT_EQ(s["tiers"]["edge"]["in_process"], false);
  EXPECT_TRUE(s["tiers"]["cloud"]["link_rtt_ms"].is_null());  // no probe yet
  const Json& edge = s["functions"]["f"]["edge"];
  EXPECT_EQ(edge["observations"], 2);
  EXPECT_NEAR(edge["prediction"]["terms"]["exec"]["mean_ms"].get<double>(), 25.0, 1e-6);
  EXPECT_DOUBLE_EQ(edge["errors"]["exec"]["last_ms"].get<double>(), 10.0);  // 30 − 20
  EXPECT_DOUBLE_EQ(edge["last_latency_ms"].get<double>(), 30.0);
  EXPECT_EQ(edge["recent_ms"], Json::array({20.0, 30.0}));
  EXPECT_EQ(edge["decisions"]["explore"], 1);
  EXPECT_EQ(edge["decisions"]["forced"], 1);
  const Json& cloud = s["functions"]["f"]["cloud"];
  EXPECT_EQ(cloud["observations"], 2);
  EXPECT_EQ(cloud["decisions"]["explore"], 1);
  EXPECT_EQ(cloud["decisions"]["predicted-best"], 1);
  EXPECT_NEAR(cloud["predicted_ms"].get<double>(), 5.0, 1e-6);
  EXPECT_TRUE(s["functions"]["f"]["policy_override"].is_null());
  EXPECT_TRUE(s["functions"]["f"]["accuracy"]["ratio"].is_null());
  EXPECT_EQ(s["functions"]["f"]["accuracy"]["comparisons"], 0);
  for (const char* key : {"observations", "prediction", "model", "errors", "predicted_ms",
                          "last_latency_ms", "recent_ms", "decisions"}) {
    EXPECT_TRUE(cloud.contains(key)) << key;
  }
  for (const char* key : {"rtt_ms", "ms_per_kb", "service_ms", "cold_window", "exec"}) {
    EXPECT_TRUE(cloud["model"].contains(key)) << key;
  }
  EXPECT_EQ(cloud["model"]["exec"].size(), 3u);
  EXPECT_TRUE(cloud["model"]["cold_window"].is_null());  // never cold
  for (const char* term : {"net", "queue", "cold", "exec"}) {
    EXPECT_TRUE(cloud["errors"][term].contains("mean_abs_ms")) << term;
    EXPECT_TRUE(cloud["errors"][term].contains("count")) << term;
    EXPECT_TRUE(cloud["prediction"]["terms"][term].contains("p95_ms")) << term;
  }
  // Every placement reason, and only those: shadow runs are no placements.
  Json reasons = Json::array();
  for (const auto& [reason, n] : cloud["decisions"].items()) reasons.push_back(reason);
  EXPECT_EQ(reasons,
            Json::array({"explore", "failover", "forced", "hedge", "policy", "predicted-best"}));
}

TEST_F(SchedulerStateJsonTest, OverridesAccuracyCircuitsAndLinks) {
  Step();
  PolicyConfig edge_only = Policy();
  edge_only.policy = PolicyKind::kEdgeOnly;
  scheduler_.SetFunctionPolicy("f", edge_only);
  scheduler_.ObserveComparison("f", Tier::kCloud, {40.0, 26.0});
  scheduler_.ObserveComparison("f", Tier::kCloud, {40.0, 50.0});
  scheduler_.ObserveLink(Tier::kCloud, true, 20.0);
  for (int i = 0; i < 3; ++i) scheduler_.ObserveLink(Tier::kEdge, false, 0);
  Json s = State();
  EXPECT_EQ(s["functions"]["f"]["policy_override"]["policy"], "edge_only");
  const Json& acc = s["functions"]["f"]["accuracy"];
  EXPECT_EQ(acc["comparisons"], 2);
  EXPECT_EQ(acc["correct"], 1);
  EXPECT_DOUBLE_EQ(acc["ratio"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(acc["regret_ms"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(s["tiers"]["cloud"]["link_rtt_ms"].get<double>(), 20.0);
  EXPECT_EQ(s["tiers"]["edge"]["circuit"], "open");
  EXPECT_EQ(s["tiers"]["edge"]["consecutive_failures"], 3);
  // The cloud never ran f: nothing known yet is null.
  const Json& cloud = s["functions"]["f"]["cloud"];
  EXPECT_EQ(cloud["observations"], 0);
  EXPECT_TRUE(cloud["prediction"].is_null());
  EXPECT_TRUE(cloud["last_latency_ms"].is_null());
  EXPECT_EQ(cloud["recent_ms"], Json::array());
}

TEST(SchedulerStateJson, EmptySchedulerIsTheSameDocumentAsBefore) {
  // Byte for byte what StateJson rendered for a fresh scheduler with the
  // default policy and an in-process edge (issue 14 added stale_probe, and
  // each target's tier and device, then shadow_cap, then evidence_hedge).
  common::FakeClock clock;
  scheduler::SchedulerOptions options;
  options.in_process.Add(Tier::kEdge);
  PlacementScheduler fresh(clock, nullptr, 1, PolicyConfig{}, options);
  EXPECT_EQ(
      SchedulerStateJson(fresh.Snapshot()),
      "{\"functions\":{},\"policy\":{\"circuit\":{\"failures\":5,\"open_ms\":2000},"
      "\"evidence_hedge\":true,\"explore_budget\":0.02,\"hedge\":false,\"late_hedge\":true,"
      "\"objective\":\"mean\","
      "\"policy\":"
      "\"predictive\",\"shadow_cap\":0.1,\"shadow_rate\":0.0,\"slo_ms\":0.0,\"smoothing\":0.2,"
      "\"stale_probe\":\"shadow\",\"weights\":{"
      "\"cost\":0.0,\"energy\":0.0,\"latency\":1.0}},\"tiers\":{\"cloud\":{\"circuit\":"
      "\"closed\",\"consecutive_failures\":0,\"device\":\"cpu\",\"in_process\":false,"
      "\"link_rtt_ms\":null,\"tier\":\"cloud\"},"
      "\"edge\":{\"circuit\":\"closed\",\"consecutive_failures\":0,\"device\":\"cpu\","
      "\"in_process\":true,\"link_rtt_ms\":null,\"tier\":\"edge\"}}}");
}

TEST_F(SchedulerStateJsonTest, AFunctionNameThatIsNotUtf8StillRendersValidJson) {
  // Names reach the scheduler from invocations; a writer must never throw.
  const std::string bad = "f\xff\xc3(";
  Step(bad);
  std::string text;
  ASSERT_NO_THROW(text = SchedulerStateJson(scheduler_.Snapshot()));
  Json doc = Json::parse(text);  // strict: refuses invalid UTF-8
  EXPECT_TRUE(doc["functions"].contains("f\xEF\xBF\xBD\xEF\xBF\xBD(")) << text;
}

}  // namespace
}  // namespace stoa::gateway
