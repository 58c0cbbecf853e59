// Admission control through the Dispatcher, with fake executors and a fake
// scheduler: max_concurrency (429), a saturated tier left out of placement,
// every tier saturated or a forced saturated tier (503), an executor's own
// queue refusal failing over (and saturating its tier, counted), and
// TierHealth's saturation for /readyz.
#include <future>

#include "common/clock.h"
#include "common/overload.h"
#include "gateway/dispatcher.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_executor.h"
#include "tests/fakes/scheduler/fake_scheduler.h"

namespace stoa::gateway {
namespace {

using executors::FakeExecutor;
using scheduler::FakeScheduler;
using scheduler::Tier;
using scheduler::TierIndex;
using ::testing::HasSubstr;

StoredFunction MakeFunction(uint32_t max_concurrency = 0) {
  StoredFunction f;
  f.spec.set_name("f");
  f.spec.set_runtime("wasm");
  f.spec.set_sha256("abc123");
  f.spec.set_version(1);
  f.spec.mutable_limits()->set_max_concurrency(max_concurrency);
  f.artifact_path = "/nonexistent/bytes";
  return f;
}

class DispatcherAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors;
    FakeExecutor::Options options{0, &clock_, 0};
    auto e = std::make_unique<FakeExecutor>("fake-edge", options);
    auto c = std::make_unique<FakeExecutor>("fake-cloud", options);
    edge_ = e.get();
    cloud_ = c.get();
    edge_->SetStatusDepth(0);
    cloud_->SetStatusDepth(0);
    executors[TierIndex(Tier::kEdge)] = std::move(e);
    executors[TierIndex(Tier::kCloud)] = std::move(c);
    Dispatcher::Options o;
    o.status_interval_ms = 0;
    o.watchdog_recheck_us = 500;
    o.admission.max_queue_per_tier = 1;  // 1 worker (the fakes' threads) + 1 queued
    dispatcher_ =
        std::make_unique<Dispatcher>(std::move(executors), scheduler_, clock_, metrics_, o);
    dispatcher_->ProbeTiers();
  }
  void TearDown() override {
    edge_->Release();
    cloud_->Release();
    dispatcher_.reset();
  }

  std::future<absl::StatusOr<DispatchResult>> Start(const StoredFunction& f,
                                                    std::optional<Tier> forced = std::nullopt) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<DispatchResult>>>();
    auto future = promise->get_future();
    dispatcher_->Invoke(f, v1::InvokeRequest(), forced,
                        [promise](absl::StatusOr<DispatchResult> r) { promise->set_value(r); });
    return future;
  }

  common::FakeClock clock_{1'000'000};
  common::metrics::Registry metrics_;
  FakeScheduler scheduler_;
  FakeExecutor* edge_ = nullptr;
  FakeExecutor* cloud_ = nullptr;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherAdmissionTest, MaxConcurrencyIs429AndTheSlotComesBack) {
  edge_->Hold();
  auto f = MakeFunction(1);
  auto first = Start(f);
  auto second = Start(f).get();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("concurrency limit of 1"));
  EXPECT_EQ(common::RetryAfterSeconds(second.status()), 1);
  edge_->Release();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(Start(f).get().ok());
}

TEST_F(DispatcherAdmissionTest, SaturatedTierIsLeftOutThenEverythingIs503) {
  edge_->Hold();
  cloud_->Hold();
  auto f = MakeFunction();
  std::vector<std::future<absl::StatusOr<DispatchResult>>> admitted;
  // The scheduler prefers the edge: 1 running + 1 queued there, then the cloud.
  for (int i = 0; i < 4; ++i) admitted.push_back(Start(f));
  EXPECT_TRUE(dispatcher_->Health(Tier::kEdge).saturated);
  EXPECT_EQ(dispatcher_->Health(Tier::kEdge).queued, 1u);
  EXPECT_EQ(scheduler_.last_features().in_flight[TierIndex(Tier::kCloud)], 1u);
  auto refused = Start(f).get();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("tier 'edge' is saturated: 1 queued for 1 workers; the limit is 1 "
                        "queued (tier queue limit); tier 'cloud' is saturated"));
  EXPECT_GE(*common::RetryAfterSeconds(refused.status()), 1);
  auto forced = Start(f, Tier::kCloud).get();
  EXPECT_EQ(forced.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(forced.status().message(), ::testing::Not(HasSubstr("tier 'edge'")));
  edge_->Release();
  cloud_->Release();
  for (auto& a : admitted) EXPECT_TRUE(a.get().ok());
  // The fakes' responses report a depth of 3; the next probe says 0.
  dispatcher_->ProbeTiers();
  EXPECT_FALSE(dispatcher_->Health(Tier::kEdge).saturated);
  EXPECT_EQ(dispatcher_->Health(Tier::kEdge).admitted, 0u);
  EXPECT_TRUE(Start(f).get().ok());
}

TEST_F(DispatcherAdmissionTest, ExecutorQueueRefusalFailsOverWithoutTierFailure) {
  edge_->SetInvokeStatus(absl::ResourceExhaustedError(
      absl::StrCat("function 'f': the executor is saturated: 8 queued; the limit is 8 queued ",
                   common::kExecutorQueueLimit)));
  EXPECT_FALSE(dispatcher_->Health(Tier::kEdge).saturated);
  auto r = Start(MakeFunction()).get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kCloud);
  // The refusal saturates the edge here too (for /readyz), for a second,
  // and is counted.
  dispatcher_->ProbeTiers();  // the fake cloud's answer reported a depth of 3
  EXPECT_TRUE(dispatcher_->Health(Tier::kEdge).saturated);
  EXPECT_FALSE(dispatcher_->Health(Tier::kCloud).saturated);
  EXPECT_THAT(metrics_.Serialize(),
              HasSubstr("stoa_admission_refusals_total{function=\"f\",reason=\"executor\","
                        "target=\"edge\",tier=\"edge\"} 1"));
  clock_.AdvanceMicros(Admission::kWaitRefusalWindowUs);
  EXPECT_FALSE(dispatcher_->Health(Tier::kEdge).saturated);
  // Nowhere else to go: 503 with Retry-After.
  auto forced = Start(MakeFunction(), Tier::kEdge).get();
  EXPECT_EQ(forced.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(forced.status().message(), HasSubstr("(executor queue limit)"));
  EXPECT_EQ(common::RetryAfterSeconds(forced.status()), 1);
  for (const auto& o : scheduler_.observations()) EXPECT_FALSE(o.outcome.tier_failure);
}

}  // namespace
}  // namespace stoa::gateway
