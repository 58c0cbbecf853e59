// Admission (gateway/admission.h) on a fake clock: the per-function cap,
// the per-tier queue limit, the deadline check against the predicted wait,
// Retry-After, saturation for /readyz, and the refusal counter.
#include "gateway/admission.h"

#include <vector>

#include "common/clock.h"
#include "common/overload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::gateway {
namespace {

using scheduler::Tier;
using scheduler::TierIndex;
using scheduler::TierSet;
using ::testing::HasSubstr;

class AdmissionTest : public ::testing::Test {
 protected:
  Admission::Loads Loads(uint32_t workers, uint32_t depth = 0) {
    Admission::Loads loads;
    for (auto& l : loads) l = {workers, depth};
    return loads;
  }
  // Reserves `n` places on `tier` (plenty of deadline left).
  void Fill(Admission& a, Tier tier, int n, uint32_t workers) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(a.AcquireFunction("f", 0).ok());
      Admission::Verdict refusal;
      double work_ms = 0;
      ASSERT_TRUE(a.Reserve("f", tier, 1e9, {workers, 0}, &refusal, &work_ms)) << refusal.message;
      work_ms_.push_back(work_ms);
    }
  }

  // Ends the last reservation made by Fill.
  void End(Admission& a, Tier tier, double run_ms) {
    a.Release(tier, "f", work_ms_.back(), run_ms);
    work_ms_.pop_back();
  }

  std::vector<double> work_ms_;
  common::FakeClock clock_{1'000'000};
  common::metrics::Registry metrics_;
};

TEST_F(AdmissionTest, MaxConcurrencyIsResourceExhaustedWithRetryAfter) {
  Admission a(clock_, metrics_, {});
  ASSERT_TRUE(a.AcquireFunction("f", 2).ok());
  ASSERT_TRUE(a.AcquireFunction("f", 2).ok());
  absl::Status refused = a.AcquireFunction("f", 2);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(),
            "function 'f' is at its concurrency limit of 2 (limits.max_concurrency)");
  EXPECT_EQ(common::RetryAfterSeconds(refused), 1);
  a.ReleaseFunction("f");
  EXPECT_TRUE(a.AcquireFunction("f", 2).ok());
  // 0: no cap; other functions have their own.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.AcquireFunction("g", 0).ok());
  EXPECT_THAT(metrics_.Serialize(),
              HasSubstr("stoa_admission_refusals_total{function=\"f\",reason=\"max_"
                        "concurrency\",target=\"\",tier=\"\"} 1"));
}

TEST_F(AdmissionTest, FullQueueRefusesTheTierAndTheOtherTakesIt) {
  Admission a(clock_, metrics_, {.max_queue_per_tier = 3});
  Fill(a, Tier::kEdge, 2 + 3, 2);  // 2 workers busy, 3 queued
  auto v = a.Judge("f", TierSet::All(), 10'000, Loads(2));
  EXPECT_FALSE(v[TierIndex(Tier::kEdge)].open);
  EXPECT_EQ(v[TierIndex(Tier::kEdge)].reason, "queue_full");
  EXPECT_THAT(v[TierIndex(Tier::kEdge)].message,
              HasSubstr("tier 'edge' is saturated: 3 queued for 2 workers; the limit is 3 "
                        "queued (tier queue limit)"));
  EXPECT_TRUE(v[TierIndex(Tier::kCloud)].open);
  EXPECT_TRUE(a.QueueOf(Tier::kEdge, {2, 0}).saturated);
  EXPECT_FALSE(a.QueueOf(Tier::kCloud, {2, 0}).saturated);
  Admission::Verdict refusal;
  double work_ms = 0;
  EXPECT_FALSE(a.Reserve("f", Tier::kEdge, 10'000, {2, 0}, &refusal, &work_ms));
  absl::Status s = a.Refuse("f", TierSet::Of(Tier::kEdge), v);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("function 'f' was refused: tier 'edge' is saturated"));
  EXPECT_GE(*common::RetryAfterSeconds(s), 1);
  // One ends: room again.
  End(a, Tier::kEdge, 0);
  EXPECT_TRUE(a.Judge("f", TierSet::All(), 10'000, Loads(2))[TierIndex(Tier::kEdge)].open);
}

TEST_F(AdmissionTest, DefaultLimitIsFourPerWorkerAndReportedDepthCounts) {
  Admission a(clock_, metrics_, {});
  EXPECT_EQ(a.QueueOf(Tier::kCloud, {3, 0}).limit, 12u);
  EXPECT_EQ(a.QueueOf(Tier::kCloud, {0, 0}).limit, 4u);  // not probed yet: 1 worker
  // Another gateway's calls queued there count too.
  auto v = a.Judge("f", TierSet::Of(Tier::kCloud), 10'000, Loads(3, 12));
  EXPECT_EQ(v[TierIndex(Tier::kCloud)].reason, "queue_full");
}

TEST_F(AdmissionTest, PredictedWaitPastTheDeadlineIsRefusedAndMarksSaturation) {
  Admission a(clock_, metrics_, {});
  // Learn: f runs 2 s on the edge.
  Fill(a, Tier::kEdge, 1, 2);
  End(a, Tier::kEdge, 2000);
  Fill(a, Tier::kEdge, 2, 2);  // both workers busy
  auto v = a.Judge("f", TierSet::Of(Tier::kEdge), 3000, Loads(2));
  ASSERT_FALSE(v[TierIndex(Tier::kEdge)].open);
  EXPECT_EQ(v[TierIndex(Tier::kEdge)].reason, "queue_wait");
  EXPECT_THAT(v[TierIndex(Tier::kEdge)].message,
              HasSubstr("a predicted wait of 2000 ms plus a run of 2000 ms exceeds the 3000 ms "
                        "left of the deadline (tier queue wait)"));
  // A longer deadline fits.
  EXPECT_TRUE(a.Judge("f", TierSet::Of(Tier::kEdge), 4500, Loads(2))[0].open);
  EXPECT_FALSE(a.QueueOf(Tier::kEdge, {2, 0}).saturated);
  absl::Status s = a.Refuse("f", TierSet::Of(Tier::kEdge), v);
  EXPECT_EQ(common::RetryAfterSeconds(s), 2);
  EXPECT_TRUE(a.QueueOf(Tier::kEdge, {2, 0}).saturated);
  clock_.AdvanceMicros(Admission::kWaitRefusalWindowUs);
  EXPECT_FALSE(a.QueueOf(Tier::kEdge, {2, 0}).saturated);
  // A free worker: no wait, admitted whatever the run time.
  End(a, Tier::kEdge, 0);
  EXPECT_TRUE(a.Judge("f", TierSet::Of(Tier::kEdge), 100, Loads(2))[0].open);
}

TEST_F(AdmissionTest, AFastFunctionDoesNotHideSlowWorkAhead) {
  Admission a(clock_, metrics_, {});
  Fill(a, Tier::kCloud, 1, 2);
  End(a, Tier::kCloud, 2000);  // f runs 2 s
  ASSERT_TRUE(a.AcquireFunction("g", 0).ok());
  Admission::Verdict refusal;
  double g_work = 0;
  ASSERT_TRUE(a.Reserve("g", Tier::kCloud, 1e9, {2, 0}, &refusal, &g_work));
  a.Release(Tier::kCloud, "g", g_work, 1);  // g runs 1 ms: the tier's mean drops
  Fill(a, Tier::kCloud, 2, 2);              // two f running
  auto v = a.Judge("f", TierSet::Of(Tier::kCloud), 3999, Loads(2));
  EXPECT_FALSE(v[TierIndex(Tier::kCloud)].open) << v[TierIndex(Tier::kCloud)].wait_ms;
  EXPECT_DOUBLE_EQ(v[TierIndex(Tier::kCloud)].wait_ms, 2000);
}

TEST_F(AdmissionTest, ReserveRechecksTheFreeWorker) {
  Admission a(clock_, metrics_, {});
  Fill(a, Tier::kCloud, 1, 1);
  End(a, Tier::kCloud, 2000);
  // Judged with the worker free; another request takes it first.
  auto v = a.Judge("f", TierSet::Of(Tier::kCloud), 2500, Loads(1));
  ASSERT_TRUE(v[TierIndex(Tier::kCloud)].open);
  Fill(a, Tier::kCloud, 1, 1);
  Admission::Verdict refusal;
  double work_ms = 0;
  EXPECT_FALSE(a.Reserve("f", Tier::kCloud, 2500, {1, 0}, &refusal, &work_ms));
  EXPECT_EQ(refusal.reason, "queue_wait");
}

// An executor refusing what the gateway admitted (it sees other clients'
// work, and times runs by its own clock) saturates the tier here too, for
// the same window, and is counted with reason "executor".
TEST_F(AdmissionTest, AnExecutorsRefusalSaturatesTheTierAndIsCounted) {
  Admission a(clock_, metrics_, {});
  EXPECT_FALSE(a.QueueOf(Tier::kCloud, {2, 0}).saturated);
  a.ExecutorRefused("f", Tier::kCloud);
  EXPECT_TRUE(a.QueueOf(Tier::kCloud, {2, 0}).saturated);
  EXPECT_FALSE(a.QueueOf(Tier::kEdge, {2, 0}).saturated);
  EXPECT_THAT(metrics_.Serialize(),
              HasSubstr("stoa_admission_refusals_total{function=\"f\",reason=\"executor\","
                        "target=\"cloud\",tier=\"cloud\"} 1"));
  clock_.AdvanceMicros(Admission::kWaitRefusalWindowUs);
  EXPECT_FALSE(a.QueueOf(Tier::kCloud, {2, 0}).saturated);
}

TEST_F(AdmissionTest, ForgetDropsTheFunctionsSeries) {
  Admission a(clock_, metrics_, {.max_queue_per_tier = 1});
  Fill(a, Tier::kEdge, 2, 1);
  auto v = a.Judge("f", TierSet::Of(Tier::kEdge), 1000, Loads(1));
  (void)a.Refuse("f", TierSet::Of(Tier::kEdge), v);
  EXPECT_THAT(metrics_.Serialize(),
              HasSubstr("function=\"f\",reason=\"queue_full\",target=\"edge\",tier=\"edge\""));
  a.Forget("f");
  EXPECT_THAT(metrics_.Serialize(), ::testing::Not(HasSubstr("function=\"f\"")));
}

// The refusal counter labels a target by name and its tier by class, as the
// invocation metrics do (a target "gpu-pool" of tier cloud).
TEST_F(AdmissionTest, RefusalsNameTheTargetAndItsTierClass) {
  auto table = scheduler::TargetTable::Make({{.name = "edge",
                                              .tier = scheduler::TierClass::kEdge,
                                              .device = scheduler::DeviceClass::kCpu},
                                             {.name = "gpu-pool",
                                              .tier = scheduler::TierClass::kCloud,
                                              .device = scheduler::DeviceClass::kCuda}});
  ASSERT_TRUE(table.ok()) << table.status();
  scheduler::InstallTargets(*std::move(table));
  Admission a(clock_, metrics_, {.max_queue_per_tier = 1});
  Fill(a, Tier::kCloud, 2, 1);
  auto v = a.Judge("f", TierSet::Of(Tier::kCloud), 1000, Loads(1));
  (void)a.Refuse("f", TierSet::Of(Tier::kCloud), v);
  const std::string text = metrics_.Serialize();
  scheduler::InstallTargets(scheduler::TargetTable::Default());
  EXPECT_THAT(text, HasSubstr("stoa_admission_refusals_total{function=\"f\",reason=\"queue_"
                              "full\",target=\"gpu-pool\",tier=\"cloud\"} 1"));
}

}  // namespace
}  // namespace stoa::gateway
