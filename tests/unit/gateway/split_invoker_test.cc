// SplitInvoker's budget over a small scripted Invoker (a fake clock that
// each part advances by its scripted time; a part longer than the timeout
// its spec carries answers DEADLINE_EXCEEDED as the dispatcher would): the
// suffix gets what the prefix left of the function's timeout, none left is
// an error naming the prefix's time, and the default timeout applies when
// the function sets none. Also the planner's view after a request.
#include "gateway/split_invoker.h"

#include <vector>

#include "common/clock.h"
#include "gateway/split_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;
using ::testing::HasSubstr;

class ScriptedParts final : public Invoker {
 public:
  explicit ScriptedParts(common::FakeClock& clock) : clock_(clock) {}
  void Invoke(const StoredFunction& function, v1::InvokeRequest request, std::optional<Tier> forced,
              DispatchCallback done, common::CancelSignalPtr /*cancel*/) override {
    const bool prefix = request.split_part() == v1::SPLIT_PART_PREFIX;
    const int64_t took_ms = prefix ? prefix_ms : suffix_ms;
    // As the dispatcher: the spec's timeout, else its default (2000 ms here).
    const uint32_t timeout_ms =
        function.spec.limits().timeout_ms() > 0 ? function.spec.limits().timeout_ms() : 2000;
    budgets_ms.push_back(function.spec.limits().timeout_ms());
    parts.push_back(request.split_part());
    if (took_ms > timeout_ms) {
      clock_.AdvanceMicros(int64_t{timeout_ms} * 1000);
      return done(absl::DeadlineExceededError("deadline exceeded"));
    }
    clock_.AdvanceMicros(took_ms * 1000);
    DispatchResult r;
    r.tier = forced.value_or(Tier::kEdge);
    r.latency_ms = static_cast<double>(took_ms);
    r.response.set_exec_us(took_ms * 1000);
    v1::Tensor* out = r.response.add_outputs();
    out->set_name(prefix ? request.split_cut() : "y");
    out->set_raw(std::string(64, 'x'));
    done(std::move(r));
  }
  void Forget(const std::string&, const std::string&) override {}
  scheduler::TierSet configured_tiers() const override { return scheduler::TierSet::All(); }
  TierHealth Health(Tier) const override { return health; }
  FunctionStats Stats(const std::string&, const std::string&) const override { return {}; }

  TierHealth health;  // of every tier
  int64_t prefix_ms = 0;
  int64_t suffix_ms = 0;
  std::vector<uint32_t> budgets_ms;  // the spec's timeout each part was given
  std::vector<v1::SplitPart> parts;

 private:
  common::FakeClock& clock_;
};

class SplitInvokerTest : public ::testing::Test {
 protected:
  SplitInvokerTest()
      : parts_(clock_),
        planner_({.weight = 0.5, .explore = 0.0, .default_rate_bytes_per_ms = 1e4, .seed = 1}),
        invoker_(parts_, planner_, clock_, metrics_, {.default_timeout_ms = 2000}) {
    function_.spec.set_name("cnn");
    function_.spec.set_runtime("onnx");
    function_.spec.set_split(true);
    function_.spec.mutable_limits()->set_timeout_ms(1000);
    v1::SplitCut* cut = function_.spec.add_split_cuts();
    cut->set_tensor("stem");
    cut->set_bytes(64);
    cut->set_prefix_cost(0.2);
  }

  absl::StatusOr<DispatchResult> Run(const std::string& split) {
    v1::InvokeRequest request;
    request.set_split_cut(split);
    v1::Tensor* in = request.add_inputs();
    in->set_raw(std::string(256, 'i'));
    absl::StatusOr<DispatchResult> out = absl::UnknownError("not answered");
    invoker_.Invoke(function_, request, std::nullopt,
                    [&out](absl::StatusOr<DispatchResult> r) { out = std::move(r); });
    return out;
  }

  common::FakeClock clock_;
  common::metrics::Registry metrics_;
  ScriptedParts parts_;
  scheduler::SplitPlanner planner_;
  SplitInvoker invoker_;
  StoredFunction function_;
};

TEST_F(SplitInvokerTest, TheSuffixGetsWhatThePrefixLeft) {
  parts_.prefix_ms = 300;
  parts_.suffix_ms = 100;
  auto r = Run("stem");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->split, "stem");
  EXPECT_DOUBLE_EQ(r->latency_ms, 400.0);
  EXPECT_EQ(parts_.budgets_ms, (std::vector<uint32_t>{1000, 700}));
}

TEST_F(SplitInvokerTest, APrefixTakingMostOfTheBudgetMakesTheSuffixTimeOut) {
  parts_.prefix_ms = 900;
  parts_.suffix_ms = 200;  // fits the function's 1000 ms, not the 100 ms left
  auto r = Run("stem");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("split at 'stem', cloud suffix"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("the edge prefix took 900 ms of the function's 1000 ms timeout"));
  EXPECT_EQ(parts_.budgets_ms, (std::vector<uint32_t>{1000, 100}));
}

TEST_F(SplitInvokerTest, NoTimeLeftIsAnErrorNamingThePrefixsTime) {
  parts_.prefix_ms = 1000;
  auto r = Run("stem");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(r.status().message(),
              HasSubstr("split at 'stem': the edge prefix took 1000 ms of the function's 1000 ms "
                        "timeout; no time left for the cloud suffix"));
  EXPECT_EQ(parts_.parts, (std::vector<v1::SplitPart>{v1::SPLIT_PART_PREFIX}));
}

TEST_F(SplitInvokerTest, WithoutATimeoutTheDefaultIsTheBudget) {
  function_.spec.mutable_limits()->clear_timeout_ms();
  parts_.prefix_ms = 500;
  parts_.suffix_ms = 10;
  auto r = Run("stem");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(parts_.budgets_ms.size(), 2u);
  EXPECT_EQ(parts_.budgets_ms[1], 1500u);
}

TEST_F(SplitInvokerTest, TheViewShowsWhatThePlannerLearned) {
  parts_.prefix_ms = 5;
  parts_.suffix_ms = 5;
  ASSERT_TRUE(Run("").ok());  // the planner's first choice: the whole function at the edge
  const SplitViews views = invoker_.Views({function_.spec});
  ASSERT_EQ(views.size(), 1u);
  const nlohmann::json json = SplitViewsToJson(views)["cnn"];
  ASSERT_EQ(json["options"].size(), 3u) << json.dump();
  EXPECT_EQ(json["options"][0]["placement"], "whole_edge");
  EXPECT_EQ(json["options"][0]["observations"], 1);
  EXPECT_EQ(json["options"][2]["cut"], "stem");
  EXPECT_EQ(json["options"][2]["observations"], 0);
  EXPECT_EQ(json["last_choice"]["placement"], "whole_edge");
  EXPECT_EQ(json["last_choice"]["explored"], false);
  EXPECT_EQ(json["input_bytes"], 256.0);
  EXPECT_DOUBLE_EQ(json["link"]["rate_mbit"].get<double>(), 80.0);  // the default, 1e4 B/ms
  EXPECT_EQ(json["link"]["samples"], 0);
}

// A probe that waited behind a large transfer on the link reports the
// transfer's time; the planner's RTT is the smallest of the last 10 s.
TEST_F(SplitInvokerTest, TheRttIsTheSmallestProbeOfTheLastTenSeconds) {
  auto rtt = [this] {
    return SplitViewsToJson(invoker_.Views({function_.spec}))["cnn"]["link"]["rtt_ms"]
        .get<double>();
  };
  EXPECT_EQ(rtt(), 0.0);  // no probe yet
  parts_.health.last_probe = TierHealth::Probe::kOk;
  parts_.health.last_probe_rtt_ms = 10.0;
  EXPECT_EQ(rtt(), 10.0);
  clock_.AdvanceMicros(500'000);
  parts_.health.last_probe_rtt_ms = 2'300.0;  // behind a 600 KB transfer at 2 Mbit/s
  EXPECT_EQ(rtt(), 10.0);
  clock_.AdvanceMicros(9'000'000);
  parts_.health.last_probe_rtt_ms = 40.0;
  EXPECT_EQ(rtt(), 10.0);
  clock_.AdvanceMicros(1'000'000);  // the 10 ms probe is 10.5 s old
  EXPECT_EQ(rtt(), 40.0);
  parts_.health.last_probe_rtt_ms = 12.0;
  EXPECT_EQ(rtt(), 12.0);
}

}  // namespace
}  // namespace stoa::gateway
