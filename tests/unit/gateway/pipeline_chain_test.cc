// Chain planning and bookkeeping (gateway/pipeline_chain.h) with a scripted
// scheduler (predictions per function, target and "with or without the
// data") and a two-target gateway (in-process edge, remote cloud).
#include "gateway/pipeline_chain.h"

#include <map>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;
using ::testing::ElementsAre;
using ::testing::Pair;

class ScriptedPredictions final : public scheduler::Scheduler {
 public:
  // PredictMs(function, tier, bytes): with_data when bytes > 0, else without.
  void Set(const std::string& f, Tier t, double with_data, double without_data) {
    ms[{f, t, true}] = with_data;
    ms[{f, t, false}] = without_data;
  }
  absl::StatusOr<scheduler::Decision> Decide(std::string_view, scheduler::TierSet,
                                             const scheduler::Features&) override {
    return absl::UnimplementedError("not used");
  }
  double PredictMs(std::string_view f, Tier t, const scheduler::Features& features) override {
    auto it = ms.find({std::string(f), t, features.request_bytes > 0});
    return it == ms.end() ? 0.0 : it->second;
  }
  void Observe(std::string_view, const scheduler::Decision&, const scheduler::Outcome&) override {}
  void ObserveComparison(std::string_view, Tier,
                         const std::array<double, scheduler::kNumTiers>&) override {}
  void ObserveLink(Tier, bool, double) override {}
  void Forget(std::string_view) override {}
  scheduler::SchedulerSnapshot Snapshot() const override { return {}; }

  std::map<std::tuple<std::string, Tier, bool>, double> ms;
};

class TwoTargets final : public Invoker {
 public:
  void Invoke(const StoredFunction&, v1::InvokeRequest, std::optional<Tier>, DispatchCallback done,
              common::CancelSignalPtr) override {
    done(absl::UnimplementedError("not used"));
  }
  void Forget(const std::string&, const std::string&) override {}
  scheduler::TierSet configured_tiers() const override { return scheduler::TierSet::All(); }
  TierHealth Health(Tier t) const override {
    TierHealth h;
    h.configured = true;
    h.executor = t == Tier::kEdge ? "in-process" : "grpc:127.0.0.1:1";
    h.last_probe_rtt_ms = 2.0;
    return h;
  }
  FunctionStats Stats(const std::string&, const std::string&) const override { return {}; }
};

ChainCandidate Stage(const std::string& name, std::optional<Tier> forced = std::nullopt) {
  ChainCandidate c;
  c.function.spec.set_name(name);
  c.function.spec.set_sha256("sha-" + name);
  c.function.spec.set_runtime("wasm");
  c.function.artifact_path = "/store/" + name;
  c.forced = forced;
  c.label = "stage ? (" + name + ")";
  return c;
}

class PipelineChainTest : public ::testing::Test {
 protected:
  // Plans stages[0] with the rest fed one by one; the chain's length
  // (1: none) and how many stages were asked for.
  int Plan(const std::vector<ChainCandidate>& stages) {
    size_t i = 1;
    fetched_ = 0;
    plan_ = PlanChain(
        predictions_, targets_, stages[0],
        [&]() -> std::optional<ChainCandidate> {
          if (i >= stages.size()) return std::nullopt;
          ++fetched_;
          return stages[i++];
        },
        1000, sizes_);
    return plan_.stages.empty() ? 1 : static_cast<int>(plan_.stages.size());
  }
  ChainPlan plan_;
  int fetched_ = 0;
  ScriptedPredictions predictions_;
  TwoTargets targets_;
  OutputSizes sizes_;
};

TEST_F(PipelineChainTest, ForcedStagesOnTheCloudChainAndTheEdgeNeverDoes) {
  EXPECT_EQ(Plan({Stage("a", Tier::kCloud), Stage("b", Tier::kCloud), Stage("c", Tier::kCloud)}),
            3);
  EXPECT_EQ(plan_.target, Tier::kCloud);
  EXPECT_EQ(plan_.stages[2].function.spec.name(), "c");
  EXPECT_EQ(Plan({Stage("a", Tier::kEdge), Stage("b", Tier::kEdge)}), 1);
  EXPECT_EQ(fetched_, 0);  // in-process: already in memory; nothing looked up
  EXPECT_EQ(Plan({Stage("a", Tier::kCloud), Stage("b", Tier::kEdge), Stage("c", Tier::kCloud)}), 1);
  EXPECT_EQ(fetched_, 1);  // the chain ends at b: c is not looked up
  EXPECT_EQ(Plan({Stage("a", Tier::kCloud)}), 1);
  // A forced stage whose spec keeps it off the target is left to run alone.
  ChainCandidate edge_only = Stage("b", Tier::kCloud);
  edge_only.function.spec.add_tiers("edge");
  EXPECT_EQ(Plan({Stage("a", Tier::kCloud), edge_only}), 1);
}

TEST_F(PipelineChainTest, WithoutPredictionsTheDispatcherDecides) {
  EXPECT_EQ(Plan({Stage("a"), Stage("b")}), 1);
  // Stage a is known to be best in the cloud, b is unknown: a runs alone.
  predictions_.Set("a", Tier::kCloud, 5, 4);
  predictions_.Set("a", Tier::kEdge, 9, 9);
  EXPECT_EQ(Plan({Stage("a"), Stage("b")}), 1);
}

TEST_F(PipelineChainTest, AStageStaysWhenItsTimeThereWithoutTransferIsNoWorse) {
  predictions_.Set("a", Tier::kCloud, 5, 4);
  predictions_.Set("a", Tier::kEdge, 9, 9);
  // b: 6 ms in the cloud with its data there (8 - the 2 ms round trip)
  // against 7 ms at the edge with the transfer: it stays.
  predictions_.Set("b", Tier::kCloud, 12, 8);
  predictions_.Set("b", Tier::kEdge, 7, 7);
  // c: 10 - 2 = 8 in the cloud, 3 at the edge: it leaves.
  predictions_.Set("c", Tier::kCloud, 12, 10);
  predictions_.Set("c", Tier::kEdge, 3, 3);
  EXPECT_EQ(Plan({Stage("a"), Stage("b"), Stage("c")}), 2);
  EXPECT_EQ(plan_.target, Tier::kCloud);
  // A stage pinned elsewhere or split never joins.
  EXPECT_EQ(Plan({Stage("a"), Stage("b", Tier::kEdge)}), 1);
  ChainCandidate split = Stage("b");
  split.function.spec.set_split(true);
  EXPECT_EQ(Plan({Stage("a"), split}), 1);
  // The edge is best for a: no chain.
  predictions_.Set("a", Tier::kEdge, 1, 1);
  EXPECT_EQ(Plan({Stage("a"), Stage("b")}), 1);
}

TEST_F(PipelineChainTest, OutputSizesAreLearnedElseDeclaredElseTheInputs) {
  v1::FunctionSpec spec;
  spec.set_name("m");
  EXPECT_EQ(sizes_.Predict(spec, 77), 77u);
  v1::TensorSignature* out = spec.add_outputs();
  out->set_datatype(v1::FP32);
  out->add_shape(-1);
  out->add_shape(10);
  EXPECT_EQ(sizes_.Predict(spec, 77), 40u);
  sizes_.Observe("m", 400);
  EXPECT_EQ(sizes_.Predict(spec, 77), 400u);
  sizes_.Observe("m", 900);
  EXPECT_EQ(sizes_.Predict(spec, 77), 500u);  // EWMA, weight 0.2
}

TEST_F(PipelineChainTest, TheCallCarriesTheChainAndTheSumOfTheDeadlines) {
  std::vector<ChainCandidate> stages = {Stage("a"), Stage("b"), Stage("c")};
  for (auto& s : stages) s.function.spec.mutable_limits()->set_timeout_ms(100);
  v1::InvokeRequest request;
  StoredFunction call = ChainCall(stages, request);
  EXPECT_EQ(call.spec.name(), "a");
  EXPECT_EQ(call.spec.limits().timeout_ms(), 300u);
  ASSERT_EQ(request.chain_size(), 2);
  EXPECT_EQ(request.chain(0).function(), "b");
  EXPECT_EQ(request.chain(1).sha256(), "sha-c");
  EXPECT_EQ(request.chain(1).runtime(), "wasm");
  const std::vector<ChainMember> members = ChainMembersOf(call);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].artifact_path, "/store/c");
  EXPECT_EQ(members[1].key, LoadedFunctions::Key("c", "sha-c"));
  stages[1].function.spec.mutable_limits()->set_timeout_ms(0);
  v1::InvokeRequest again;
  EXPECT_EQ(ChainCall(stages, again).spec.limits().timeout_ms(), 0u);  // the default
}

TEST_F(PipelineChainTest, OutcomesAreSplitPerStage) {
  scheduler::Outcome whole;
  whole.latency_ms = 20.0;
  whole.server_ms = 9.0;
  whole.request_bytes = 64;
  v1::InvokeResponse response;
  response.set_raw(std::string(40, 'x'));
  for (auto [name, exec_us, bytes] :
       {std::tuple{"a", 1000, 256}, {"b", 3000, 40}, {"c", 2000, 40}}) {
    v1::StageTiming* t = response.add_stages();
    t->set_function(name);
    t->set_exec_us(exec_us);
    t->set_queue_us(500);
    t->set_output_bytes(bytes);
  }
  auto parts = ChainOutcomes("a", whole, response);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].first, "a");
  EXPECT_DOUBLE_EQ(parts[0].second.latency_ms, 20.0 - 3.5 - 2.5);
  EXPECT_DOUBLE_EQ(parts[0].second.exec_ms, 1.0);
  EXPECT_DOUBLE_EQ(parts[0].second.server_ms, 1.5);
  EXPECT_EQ(parts[1].first, "b");
  EXPECT_DOUBLE_EQ(parts[1].second.latency_ms, 3.5);
  EXPECT_DOUBLE_EQ(parts[1].second.exec_ms, 3.0);
  EXPECT_DOUBLE_EQ(parts[1].second.server_ms, 0.0);  // no link term learns from it
  EXPECT_EQ(parts[1].second.request_bytes, 256u);
  EXPECT_EQ(parts[2].second.response_bytes, 40u);
  // A plain call is itself.
  parts = ChainOutcomes("a", whole, v1::InvokeResponse());
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_DOUBLE_EQ(parts[0].second.latency_ms, 20.0);
}

TEST_F(PipelineChainTest, ErrorsNameTheChainedStage) {
  std::vector<ChainCandidate> stages = {Stage("a"), Stage("b")};
  stages[0].label = "stage 1 (a)";
  stages[1].label = "stage 2 (b)";
  absl::Status s = ChainError(stages, absl::InternalError("tier cloud (x): stage 2 (b): trap"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "stage 2 (b): tier cloud (x): trap");
  s = ChainError(stages, absl::UnavailableError("tier cloud (x): connection refused"));
  EXPECT_EQ(s.message(), "stage 1 (a): tier cloud (x): connection refused");
}

}  // namespace
}  // namespace stoa::gateway
