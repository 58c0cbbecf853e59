// The request's own cancel signal (Invoker::Invoke's `cancel`, the HTTP
// request's, fired when its client goes away): every run of the request is
// withdrawn, the answer is CANCELLED, the run is counted as cancelled (not
// as a lost hedge), and the scheduler learns nothing from it.
#include <future>

#include "common/clock.h"
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

StoredFunction MakeFunction() {
  StoredFunction f;
  f.spec.set_name("spin");
  f.spec.set_runtime("wasm");
  f.spec.set_sha256("abc123");
  f.spec.set_version(1);
  f.artifact_path = "/nonexistent/module-bytes";
  return f;
}

class DispatcherCancelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors;
    FakeExecutor::Options options{/*threads=*/1, &clock_, /*status_rtt_us=*/0};
    auto e = std::make_unique<FakeExecutor>("fake-edge", options);
    auto c = std::make_unique<FakeExecutor>("fake-cloud", options);
    edge_ = e.get();
    cloud_ = c.get();
    edge_counts_ = e->counts();
    cloud_counts_ = c->counts();
    executors[TierIndex(Tier::kEdge)] = std::move(e);
    executors[TierIndex(Tier::kCloud)] = std::move(c);
    Dispatcher::Options o;
    o.status_interval_ms = 0;
    o.watchdog_recheck_us = 500;
    dispatcher_ =
        std::make_unique<Dispatcher>(std::move(executors), scheduler_, clock_, metrics_, o);
    // Warm on both tiers, so the runs below reach their executors.
    for (Tier t : scheduler::AllTiers()) ASSERT_TRUE(Start(t, nullptr).get().ok());
  }

  void TearDown() override {
    if (!dispatcher_) return;  // the executors went with it
    edge_->Release();
    cloud_->Release();
    dispatcher_.reset();
  }

  std::future<absl::StatusOr<DispatchResult>> Start(std::optional<Tier> forced,
                                                    common::CancelSignalPtr cancel) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<DispatchResult>>>();
    auto future = promise->get_future();
    dispatcher_->Invoke(
        MakeFunction(), v1::InvokeRequest(), forced,
        [promise](absl::StatusOr<DispatchResult> r) { promise->set_value(r); }, std::move(cancel));
    return future;
  }

  double Counter(const std::string& name, const common::metrics::Labels& labels) {
    return metrics_.AddCounter(name, "").Add(labels)->Value();
  }

  common::FakeClock clock_{1'000'000};
  common::metrics::Registry metrics_;
  FakeScheduler scheduler_;
  FakeExecutor* edge_ = nullptr;
  FakeExecutor* cloud_ = nullptr;
  std::shared_ptr<const FakeExecutor::Counts> edge_counts_;
  std::shared_ptr<const FakeExecutor::Counts> cloud_counts_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherCancelTest, ClientCancelWithdrawsTheRunningCall) {
  edge_->Hold();
  auto cancel = std::make_shared<common::CancelSignal>();
  auto answer = Start(Tier::kEdge, cancel);
  ASSERT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  const size_t observed = scheduler_.observations().size();
  cancel->Cancel();
  absl::StatusOr<DispatchResult> r = answer.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("its client went away"));
  EXPECT_EQ(edge_counts_->cancelled, 1);
  EXPECT_EQ(
      Counter(
          "stoa_invocations_total",
          {{"function", "spin"}, {"tier", "edge"}, {"target", "edge"}, {"outcome", "cancelled"}}),
      1);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total",
                    {{"function", "spin"}, {"tier", "edge"}, {"target", "edge"}}),
            0);
  EXPECT_EQ(scheduler_.observations().size(), observed) << "a cancelled run teaches nothing";
}

TEST_F(DispatcherCancelTest, AlreadyCancelledRequestDoesNotReachTheExecutor) {
  auto cancel = std::make_shared<common::CancelSignal>();
  cancel->Cancel();
  const int before = cloud_counts_->invoke;
  absl::StatusOr<DispatchResult> r = Start(Tier::kCloud, cancel).get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(cloud_counts_->invoke, before);
}

TEST_F(DispatcherCancelTest, ClientCancelWithdrawsEveryRunOfAHedgedRequest) {
  scheduler_.Prefer(Tier::kCloud);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kEdge), {});
  edge_->Hold();
  cloud_->Hold();
  auto cancel = std::make_shared<common::CancelSignal>();
  auto answer = Start(std::nullopt, cancel);
  ASSERT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  cancel->Cancel();
  absl::StatusOr<DispatchResult> r = answer.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  dispatcher_.reset();  // returns once both runs ended
  EXPECT_EQ(edge_counts_->cancelled, 1);
  EXPECT_EQ(cloud_counts_->cancelled, 1);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total",
                    {{"function", "spin"}, {"tier", "edge"}, {"target", "edge"}}),
            0);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total",
                    {{"function", "spin"}, {"tier", "cloud"}, {"target", "cloud"}}),
            0);
}

TEST_F(DispatcherCancelTest, SignalThatNeverFiresChangesNothing) {
  auto cancel = std::make_shared<common::CancelSignal>();
  absl::StatusOr<DispatchResult> r = Start(Tier::kEdge, cancel).get();
  EXPECT_TRUE(r.ok()) << r.status();
}

}  // namespace
}  // namespace stoa::gateway
