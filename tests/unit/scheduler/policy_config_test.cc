#include "scheduler/policy_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

using ::testing::HasSubstr;

// The error message of parsing `json`; fails the test if it parses.
std::string JsonError(const std::string& json) {
  auto p = ParsePolicyJson(json);
  EXPECT_FALSE(p.ok()) << json;
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(p.status().message());
}

TEST(PolicyConfigTest, EmptyObjectKeepsDefaults) {
  auto p = ParsePolicyJson("{}");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->policy, PolicyKind::kPredictive);
  EXPECT_EQ(p->objective, Objective::kMean);
  EXPECT_DOUBLE_EQ(p->explore_budget, 0.02);
  EXPECT_DOUBLE_EQ(p->smoothing, 0.2);
  EXPECT_EQ(p->circuit.failures, 5);
  EXPECT_EQ(p->circuit.open_ms, 2000);
  EXPECT_DOUBLE_EQ(p->weights.latency, 1.0);
}

TEST(PolicyConfigTest, FullDocument) {
  auto p = ParsePolicyJson(R"({"policy":"slo","objective":"p95","slo_ms":25.5,
      "shadow_rate":0.1,"explore_budget":0.5,"hedge":true,"smoothing":1,
      "weights":{"latency":2,"cost":0.5,"energy":3},"circuit":{"failures":2,"open_ms":100}})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->policy, PolicyKind::kSlo);
  EXPECT_EQ(p->objective, Objective::kP95);
  EXPECT_DOUBLE_EQ(p->slo_ms, 25.5);
  EXPECT_DOUBLE_EQ(p->shadow_rate, 0.1);
  EXPECT_DOUBLE_EQ(p->explore_budget, 0.5);
  EXPECT_TRUE(p->hedge);
  EXPECT_DOUBLE_EQ(p->smoothing, 1.0);
  EXPECT_DOUBLE_EQ(p->weights.latency, 2.0);
  EXPECT_DOUBLE_EQ(p->weights.cost, 0.5);
  EXPECT_DOUBLE_EQ(p->weights.energy, 3.0);
  EXPECT_EQ(p->circuit.failures, 2);
  EXPECT_EQ(p->circuit.open_ms, 100);
}

TEST(PolicyConfigTest, EveryPolicyNameParses) {
  for (PolicyKind k :
       {PolicyKind::kPredictive, PolicyKind::kEdgeOnly, PolicyKind::kCloudOnly,
        PolicyKind::kRoundRobin, PolicyKind::kRandom, PolicyKind::kSlo, PolicyKind::kWeighted}) {
    auto p = ParsePolicyJson("{\"policy\":\"" + std::string(PolicyKindName(k)) + "\"}");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->policy, k);
  }
}

TEST(PolicyConfigTest, UnknownPolicyNamesAllowedValues) {
  std::string msg = JsonError(R"({"policy":"fastest"})");
  EXPECT_THAT(msg, HasSubstr("'policy'"));
  EXPECT_THAT(msg, HasSubstr("predictive|edge_only|cloud_only|round_robin|random|slo|weighted"));
  EXPECT_THAT(msg, HasSubstr("fastest"));
}

TEST(PolicyConfigTest, RangeErrorsNameTheField) {
  struct Case {
    const char* doc;
    const char* field;
    const char* range;
  };
  for (const Case& c : {
           Case{R"({"objective":"p99"})", "'objective'", "mean|p95"},
           Case{R"({"slo_ms":-1})", "'slo_ms'", ">= 0"},
           Case{R"({"shadow_rate":1.5})", "'shadow_rate'", "[0, 1]"},
           Case{R"({"shadow_rate":-0.1})", "'shadow_rate'", "[0, 1]"},
           Case{R"({"explore_budget":2})", "'explore_budget'", "[0, 1]"},
           Case{R"({"explore_budget":-0.5})", "'explore_budget'", "[0, 1]"},
           Case{R"({"smoothing":0})", "'smoothing'", "(0, 1]"},
           Case{R"({"smoothing":1.01})", "'smoothing'", "(0, 1]"},
           Case{R"({"weights":{"latency":-1}})", "'weights.latency'", ">= 0"},
           Case{R"({"weights":{"cost":-0.1}})", "'weights.cost'", ">= 0"},
           Case{R"({"weights":{"energy":-2}})", "'weights.energy'", ">= 0"},
           Case{R"({"circuit":{"failures":0}})", "'circuit.failures'", "[1, "},
           Case{R"({"circuit":{"open_ms":0}})", "'circuit.open_ms'", "[1, "},
           Case{R"({"circuit":{"open_ms":1e12}})", "'circuit.open_ms'", "[1, "},
           Case{R"({"circuit":{"failures":2.5}})", "'circuit.failures'", "integer"},
       }) {
    std::string msg = JsonError(c.doc);
    EXPECT_THAT(msg, HasSubstr(c.field)) << c.doc;
    EXPECT_THAT(msg, HasSubstr(c.range)) << c.doc;
  }
}

TEST(PolicyConfigTest, BoundaryValuesAccepted) {
  for (const char* doc :
       {R"({"slo_ms":0})", R"({"shadow_rate":0})", R"({"shadow_rate":1})",
        R"({"explore_budget":0})", R"({"explore_budget":1})", R"({"smoothing":1})",
        R"({"smoothing":0.0001})", R"({"weights":{"latency":0,"cost":0,"energy":0}})",
        R"({"circuit":{"failures":1,"open_ms":1}})", R"({"circuit":{"failures":3.0}})"}) {
    EXPECT_TRUE(ParsePolicyJson(doc).ok()) << doc;
  }
}

TEST(PolicyConfigTest, TypeErrorsNameTheField) {
  EXPECT_THAT(JsonError(R"({"hedge":"yes"})"), HasSubstr("field 'hedge' must be a boolean"));
  EXPECT_THAT(JsonError(R"({"hedge":1})"), HasSubstr("field 'hedge' must be a boolean"));
  EXPECT_THAT(JsonError(R"({"late_hedge":"no"})"),
              HasSubstr("field 'late_hedge' must be a boolean"));
  EXPECT_THAT(JsonError(R"({"evidence_hedge":1})"),
              HasSubstr("field 'evidence_hedge' must be a boolean"));
  EXPECT_THAT(JsonError(R"({"slo_ms":"10"})"), HasSubstr("field 'slo_ms' must be a number"));
  EXPECT_THAT(JsonError(R"({"slo_ms":null})"), HasSubstr("field 'slo_ms' must be a number"));
  EXPECT_THAT(JsonError(R"({"explore_budget":true})"),
              HasSubstr("field 'explore_budget' must be a number"));
  EXPECT_THAT(JsonError(R"({"policy":3})"), HasSubstr("field 'policy' must be a string"));
  EXPECT_THAT(JsonError(R"({"objective":["mean"]})"),
              HasSubstr("field 'objective' must be a string"));
  EXPECT_THAT(JsonError(R"({"weights":[1,0,0]})"), HasSubstr("field 'weights' must be an object"));
  EXPECT_THAT(JsonError(R"({"weights":{"latency":"1"}})"),
              HasSubstr("field 'weights.latency' must be a number"));
  EXPECT_THAT(JsonError(R"({"circuit":5})"), HasSubstr("field 'circuit' must be an object"));
  EXPECT_THAT(JsonError(R"({"circuit":{"failures":"5"}})"),
              HasSubstr("field 'circuit.failures' must be an integer"));
}

TEST(PolicyConfigTest, UnknownFieldsAreNamed) {
  EXPECT_THAT(JsonError(R"({"policy":"predictive","foo":1})"), HasSubstr("unknown field 'foo'"));
  EXPECT_THAT(JsonError(R"({"weights":{"latency":1,"speed":2}})"),
              HasSubstr("unknown field 'weights.speed'"));
  EXPECT_THAT(JsonError(R"({"circuit":{"timeout":2}})"),
              HasSubstr("unknown field 'circuit.timeout'"));
}

TEST(PolicyConfigTest, MalformedAndNonObjectDocuments) {
  EXPECT_THAT(JsonError(R"({"policy":)"), HasSubstr("malformed JSON: "));
  EXPECT_THAT(JsonError(""), HasSubstr("malformed JSON: "));
  EXPECT_THAT(JsonError(R"({"policy":"edge_only"} trailing)"), HasSubstr("malformed JSON: "));
  EXPECT_THAT(JsonError("[]"), HasSubstr("must be an object"));
  EXPECT_THAT(JsonError("\"predictive\""), HasSubstr("must be an object"));
  EXPECT_THAT(JsonError("null"), HasSubstr("must be an object"));
}

TEST(PolicyConfigTest, YamlSameDocument) {
  auto p = ParsePolicyYaml(R"(
policy: round_robin
objective: p95
slo_ms: 40
explore_budget: 0.1
hedge: true
weights:
  latency: 1
  cost: 2
circuit:
  failures: 3
  open_ms: 500
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->policy, PolicyKind::kRoundRobin);
  EXPECT_EQ(p->objective, Objective::kP95);
  EXPECT_DOUBLE_EQ(p->slo_ms, 40);
  EXPECT_DOUBLE_EQ(p->explore_budget, 0.1);
  EXPECT_TRUE(p->hedge);
  EXPECT_DOUBLE_EQ(p->weights.cost, 2);
  EXPECT_EQ(p->circuit.failures, 3);
  EXPECT_EQ(p->circuit.open_ms, 500);
}

TEST(PolicyConfigTest, YamlErrorsMatchJson) {
  auto msg = [](const char* yaml) {
    auto p = ParsePolicyYaml(yaml);
    EXPECT_FALSE(p.ok()) << yaml;
    return p.ok() ? std::string() : std::string(p.status().message());
  };
  EXPECT_THAT(msg("policy: fastest\n"), HasSubstr("field 'policy' must be one of"));
  EXPECT_THAT(msg("hedge: \"true\"\n"), HasSubstr("field 'hedge' must be a boolean"));
  EXPECT_THAT(msg("slo_ms: \"10\"\n"), HasSubstr("field 'slo_ms' must be a number"));
  EXPECT_THAT(msg("slo_ms: .inf\n"), HasSubstr("'slo_ms'"));
  EXPECT_THAT(msg("circuit:\n  failures: 0\n"), HasSubstr("'circuit.failures'"));
  EXPECT_THAT(msg("weights:\n  speed: 1\n"), HasSubstr("unknown field 'weights.speed'"));
  EXPECT_THAT(msg("policy: [unclosed\n"), HasSubstr("malformed YAML"));
  EXPECT_THAT(msg("- predictive\n"), HasSubstr("must be an object"));
  EXPECT_THAT(msg(""), HasSubstr("must be an object"));
}

TEST(PolicyConfigTest, ShadowCapIsAShare) {
  EXPECT_EQ(PolicyConfig().shadow_cap, 0.1);
  auto ok = ParsePolicyJson(R"({"shadow_cap":0.5})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->shadow_cap, 0.5);
  for (const char* bad :
       {R"({"shadow_cap":1.5})", R"({"shadow_cap":-0.1})", R"({"shadow_cap":"all"})"}) {
    auto r = ParsePolicyJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("shadow_cap")) << bad;
  }
}

TEST(PolicyConfigTest, RoundTrip) {
  PolicyConfig in;
  in.policy = PolicyKind::kWeighted;
  in.objective = Objective::kP95;
  in.slo_ms = 12.25;
  in.shadow_rate = 0.3;
  in.explore_budget = 0.07;
  in.shadow_cap = 0.25;
  in.hedge = true;
  in.late_hedge = false;
  in.evidence_hedge = false;
  in.smoothing = 0.35;
  in.weights = {0.5, 2.0, 4.0};
  in.circuit = {7, 1234};
  std::string json = PolicyToJson(in);
  for (const char* field :
       {"policy", "objective", "slo_ms", "shadow_rate", "explore_budget", "shadow_cap", "hedge",
        "late_hedge", "evidence_hedge", "smoothing", "weights", "circuit"}) {
    EXPECT_THAT(json, HasSubstr(std::string("\"") + field + "\"")) << json;
  }
  auto out = ParsePolicyJson(json);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->policy, in.policy);
  EXPECT_EQ(out->objective, in.objective);
  EXPECT_EQ(out->slo_ms, in.slo_ms);
  EXPECT_EQ(out->shadow_rate, in.shadow_rate);
  EXPECT_EQ(out->explore_budget, in.explore_budget);
  EXPECT_EQ(out->shadow_cap, in.shadow_cap);
  EXPECT_EQ(out->hedge, in.hedge);
  EXPECT_EQ(out->late_hedge, in.late_hedge);
  EXPECT_EQ(out->evidence_hedge, in.evidence_hedge);
  EXPECT_EQ(out->smoothing, in.smoothing);
  EXPECT_EQ(out->weights.latency, in.weights.latency);
  EXPECT_EQ(out->weights.cost, in.weights.cost);
  EXPECT_EQ(out->weights.energy, in.weights.energy);
  EXPECT_EQ(out->circuit.failures, in.circuit.failures);
  EXPECT_EQ(out->circuit.open_ms, in.circuit.open_ms);
  EXPECT_EQ(PolicyToJson(*out), json);
}

TEST(TierValuesTest, ParsesAndValidates) {
  std::array<double, kNumTiers> v = {0.0, 1.0};
  ASSERT_TRUE(ParseTierValues("cloud=2.5", "--tier-cost", v).ok());
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[1], 2.5);
  ASSERT_TRUE(ParseTierValues("edge=1, cloud=0.2", "--tier-energy", v).ok());
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], 0.2);
  for (const char* bad : {"fog=1", "edge", "edge=-1", "edge=x", "edge=1,edge=2", "edge=inf"}) {
    std::array<double, kNumTiers> w = {7.0, 8.0};
    absl::Status s = ParseTierValues(bad, "--tier-cost", w);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--tier-cost")) << bad;
    EXPECT_EQ(w[0], 7.0) << bad;  // nothing changes
  }
}

}  // namespace
}  // namespace stoa::scheduler
