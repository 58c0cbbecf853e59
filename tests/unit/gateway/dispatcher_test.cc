#include "gateway/dispatcher.h"

#include <atomic>
#include <cmath>
#include <future>
#include <thread>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_executor.h"
#include "tests/fakes/scheduler/fake_scheduler.h"

namespace stoa::gateway {
namespace {

using executors::FakeExecutor;
using scheduler::FakeScheduler;
using scheduler::Reason;
using scheduler::Tier;
using scheduler::TierIndex;
using ::testing::HasSubstr;

StoredFunction MakeFunction(std::vector<std::string> tiers = {"edge", "cloud"},
                            uint32_t timeout_ms = 0) {
  StoredFunction f;
  f.spec.set_name("digits");
  f.spec.set_runtime("onnx");
  f.spec.set_sha256("abc123");
  f.spec.set_version(1);
  for (auto& t : tiers) f.spec.add_tiers(t);
  f.spec.mutable_limits()->set_timeout_ms(timeout_ms);
  f.artifact_path = "/nonexistent/model-bytes";
  return f;
}

v1::InvokeRequest MakeRequest() {
  v1::InvokeRequest r;
  v1::Tensor* t = r.add_inputs();
  t->set_name("pixels");
  t->set_datatype(v1::FP32);
  t->add_shape(2);
  t->add_shape(1);
  t->set_raw(std::string(8, 'x'));
  return r;
}

// Time is a FakeClock: executors answer at once (or when released), probes
// run when a test asks, and the watchdog re-reads the clock every 0.5 ms.
// Tier queues are not what these tests are about (the fakes report a depth
// of 5 for 1 worker): dispatcher_admission_test.cc has admission's own.
Dispatcher::Options FakeTimeOptions() {
  Dispatcher::Options o;
  o.status_interval_ms = 0;
  o.watchdog_recheck_us = 500;
  o.admission.max_queue_per_tier = 100000;
  return o;
}

class DispatcherTest : public ::testing::Test {
 protected:
  // Both tiers, warm on each; the scheduler chooses the cloud and shadows
  // every request on the edge, with a late backup there due 20 ms in.
  void CloudWithAnEdgeShadow(bool backup) {
    Make(true, true);
    scheduler_.Prefer(Tier::kCloud);
    ASSERT_TRUE(Run(MakeFunction(), Tier::kEdge).ok());
    ASSERT_TRUE(Run(MakeFunction(), Tier::kCloud).ok());
    scheduler_.SetExtras({}, scheduler::TierSet::Of(Tier::kEdge));
    if (backup) scheduler_.SetBackup(scheduler::TierSet::Of(Tier::kEdge), 20.0);
  }

  void Make(bool with_edge, bool with_cloud, size_t threads = 0) {
    std::array<executors::ExecutorPtr, scheduler::kNumTiers> executors;
    FakeExecutor::Options options{threads, &clock_, /*status_rtt_us=*/1500};
    if (with_edge) {
      auto e = std::make_unique<FakeExecutor>("fake-edge", options);
      edge_ = e.get();
      edge_counts_ = e->counts();
      executors[TierIndex(Tier::kEdge)] = std::move(e);
    }
    if (with_cloud) {
      auto c = std::make_unique<FakeExecutor>("fake-cloud", options);
      cloud_ = c.get();
      cloud_counts_ = c->counts();
      executors[TierIndex(Tier::kCloud)] = std::move(c);
    }
    dispatcher_ = std::make_unique<Dispatcher>(std::move(executors), scheduler_, clock_, metrics_,
                                               FakeTimeOptions());
  }

  void TearDown() override {
    if (!dispatcher_) return;
    if (edge_) edge_->Release();
    if (cloud_) cloud_->Release();
    dispatcher_.reset();
  }

  std::future<absl::StatusOr<DispatchResult>> Start(const StoredFunction& f,
                                                    std::optional<Tier> forced = std::nullopt) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<DispatchResult>>>();
    auto future = promise->get_future();
    dispatcher_->Invoke(f, MakeRequest(), forced,
                        [promise](absl::StatusOr<DispatchResult> r) { promise->set_value(r); });
    return future;
  }

  absl::StatusOr<DispatchResult> Run(const StoredFunction& f,
                                     std::optional<Tier> forced = std::nullopt) {
    return Start(f, forced).get();
  }

  double Counter(const std::string& name, const common::metrics::Labels& labels) {
    return metrics_.AddCounter(name, "").Add(labels)->Value();
  }

  common::FakeClock clock_{1'000'000};
  common::metrics::Registry metrics_;
  FakeScheduler scheduler_;
  // Owned by the dispatcher: valid until dispatcher_.reset(); the counts
  // stay readable after it.
  FakeExecutor* edge_ = nullptr;
  FakeExecutor* cloud_ = nullptr;
  std::shared_ptr<const FakeExecutor::Counts> edge_counts_;
  std::shared_ptr<const FakeExecutor::Counts> cloud_counts_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, ColdStartPushesOnceThenWarm) {
  Make(true, true);
  auto f = MakeFunction();
  auto first = Run(f);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->tier, Tier::kEdge);
  EXPECT_EQ(first->reason, Reason::kPredictedBest);
  EXPECT_DOUBLE_EQ(first->predicted_ms, 4.5);
  EXPECT_TRUE(first->cold_start);
  EXPECT_EQ(first->response.load_us(), 777u);
  ASSERT_EQ(first->response.outputs_size(), 1);
  EXPECT_EQ(first->response.outputs(0).raw(), std::string(8, 'x'));
  EXPECT_FALSE(scheduler_.last_features().warm.Contains(Tier::kEdge));
  EXPECT_EQ(scheduler_.last_features().request_bytes, 8u);
  EXPECT_EQ(scheduler_.last_features().batch, 2u);

  auto second = Run(f);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->cold_start);
  EXPECT_EQ(second->response.load_us(), 0u);
  EXPECT_TRUE(scheduler_.last_features().warm.Contains(Tier::kEdge));
  EXPECT_EQ(edge_counts_->load, 1);
  EXPECT_EQ(edge_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->load, 0);

  EXPECT_EQ(Counter("stoa_cold_starts_total",
                    {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
            1);
  EXPECT_EQ(
      Counter("stoa_invocations_total",
              {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}, {"outcome", "ok"}}),
      2);
  EXPECT_EQ(metrics_.AddGauge("stoa_executor_queue_depth", "")
                .Add({{"tier", "edge"}, {"target", "edge"}})
                ->Value(),
            3);
  EXPECT_EQ(metrics_.AddHistogram("stoa_invocation_duration_seconds", "")
                .Add({{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}})
                ->Count(),
            2u);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_TRUE(obs[0].outcome.ok);
  EXPECT_DOUBLE_EQ(obs[0].outcome.load_ms, 0.777);
  EXPECT_DOUBLE_EQ(obs[0].outcome.server_ms, (10 + 777 + 100) / 1000.0);
  EXPECT_DOUBLE_EQ(obs[1].outcome.load_ms, 0.0);

  auto stats = dispatcher_->Stats("digits", "abc123");
  EXPECT_TRUE(stats[0].loaded);
  EXPECT_EQ(stats[0].invocations, 2u);
  EXPECT_EQ(stats[0].cold_starts, 1u);
  EXPECT_FALSE(stats[1].loaded);
}

TEST_F(DispatcherTest, NotFoundAfterExecutorRestartReloadsAndRetries) {
  Make(true, false);
  auto f = MakeFunction();
  ASSERT_TRUE(Run(f).ok());
  edge_->Restart();
  auto r = Run(f);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cold_start);
  EXPECT_EQ(r->response.load_us(), 777u);
  EXPECT_EQ(edge_counts_->load, 2);
  EXPECT_EQ(edge_counts_->invoke, 3);  // ok, NOT_FOUND, ok
  EXPECT_EQ(Counter("stoa_cold_starts_total",
                    {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
            2);
}

TEST_F(DispatcherTest, FailsOverToEdgeWhenCloudIsUnavailable) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->SetInvokeStatus(absl::UnavailableError("connection refused"));
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kFailover);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_EQ(obs[0].decision.tier, Tier::kCloud);
  EXPECT_FALSE(obs[0].outcome.ok);
  EXPECT_TRUE(obs[0].outcome.tier_failure);
  EXPECT_EQ(obs[1].decision.tier, Tier::kEdge);
  EXPECT_EQ(obs[1].decision.reason, Reason::kFailover);
  EXPECT_TRUE(obs[1].outcome.ok);
  EXPECT_EQ(Counter("stoa_invocations_total", {{"function", "digits"},
                                               {"tier", "cloud"},
                                               {"target", "cloud"},
                                               {"outcome", "unavailable"}}),
            1);
  EXPECT_EQ(
      Counter("stoa_invocations_total",
              {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}, {"outcome", "ok"}}),
      1);
}

TEST_F(DispatcherTest, HedgeAnswersWithTheFirstSuccess) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kEdge), {});
  // Warm on both tiers first, so the losing run reaches its executor.
  ASSERT_TRUE(Run(MakeFunction(), Tier::kEdge).ok());
  ASSERT_TRUE(Run(MakeFunction(), Tier::kCloud).ok());
  cloud_->Hold();  // the chosen tier is the slow one: it never answers by itself
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kHedge);
  dispatcher_.reset();  // returns only once the cloud run, cancelled by the edge's answer, ended
  EXPECT_EQ(edge_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->cancelled, 1);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"target", "cloud"}}),
            1);
  EXPECT_EQ(Counter("stoa_invocations_total", {{"function", "digits"},
                                               {"tier", "cloud"},
                                               {"target", "cloud"},
                                               {"outcome", "cancelled"}}),
            1);
  // Only the winner teaches the model: the loser's latency is censored.
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 3u);  // two forced runs, then the hedge's winner
  EXPECT_EQ(obs[2].outcome.tier, Tier::kEdge);
  EXPECT_TRUE(obs[2].outcome.ok);
  auto cmp = scheduler_.comparisons();
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_EQ(cmp[0].first, Tier::kCloud);
  EXPECT_TRUE(std::isnan(cmp[0].second[1]));
}

// An evidence hedge (Decision::keep_hedge: the scheduler found the edge
// much faster since it last ran there): the first answer is the request's,
// as in any hedge, but the other run is not withdrawn: both teach the
// model, the edge's as a run of its own decision (IsEvidenceRun).
TEST_F(DispatcherTest, AnEvidenceHedgeAnswersFirstAndKeepsBothRuns) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kEdge), {}, /*keep_hedge=*/true);
  ASSERT_TRUE(Run(MakeFunction(), Tier::kEdge).ok());
  ASSERT_TRUE(Run(MakeFunction(), Tier::kCloud).ok());
  cloud_->Hold();  // the chosen tier answers only when released
  auto pending = Start(MakeFunction());
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto r = pending.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kHedge);
  cloud_->Release();
  dispatcher_.reset();  // returns once the cloud run ended
  EXPECT_EQ(cloud_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->cancelled, 0);
  EXPECT_EQ(Counter("stoa_hedge_cancelled_total",
                    {{"function", "digits"}, {"tier", "cloud"}, {"target", "cloud"}}),
            0);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 4u);  // two forced runs, then both runs of the hedge
  EXPECT_EQ(obs[2].outcome.tier, Tier::kEdge);
  EXPECT_TRUE(scheduler::IsEvidenceRun(obs[2].decision));
  EXPECT_EQ(obs[3].outcome.tier, Tier::kCloud);
  EXPECT_TRUE(obs[3].outcome.ok);
  EXPECT_FALSE(scheduler::IsEvidenceRun(obs[3].decision));
  auto cmp = scheduler_.comparisons();
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_FALSE(std::isnan(cmp[0].second[TierIndex(Tier::kCloud)]));
  EXPECT_FALSE(std::isnan(cmp[0].second[TierIndex(Tier::kEdge)]));
}

// A late backup (Decision::backup, policy late_hedge): the chosen tier has
// not answered by the due time, so the request also runs on the backup's
// tier, whose answer is the request's. The late primary is not withdrawn:
// it finishes and is observed, so the scheduler learns how late it was.
TEST_F(DispatcherTest, LateBackupAnswersAndTheLatePrimaryStillTeaches) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  ASSERT_TRUE(Run(MakeFunction(), Tier::kEdge).ok());  // warm on both tiers
  ASSERT_TRUE(Run(MakeFunction(), Tier::kCloud).ok());
  scheduler_.SetBackup(scheduler::TierSet::Of(Tier::kEdge), 20.0);
  cloud_->Hold();
  auto answer = Start(MakeFunction());
  clock_.AdvanceMicros(19'000);  // not due yet
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(edge_counts_->invoke, 1);
  clock_.AdvanceMicros(2'000);
  auto r = answer.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kBackup);
  EXPECT_EQ(
      Counter("stoa_backups_total", {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
      1);
  cloud_->Release();  // the late primary ends by itself
  dispatcher_.reset();
  EXPECT_EQ(cloud_counts_->invoke, 2);
  EXPECT_EQ(cloud_counts_->cancelled, 0);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 4u);  // two forced runs, the backup, then the late primary
  EXPECT_EQ(obs[2].decision.reason, Reason::kBackup);
  EXPECT_EQ(obs[2].outcome.tier, Tier::kEdge);
  EXPECT_EQ(obs[3].decision.reason, Reason::kPredictedBest);
  EXPECT_EQ(obs[3].outcome.tier, Tier::kCloud);
  EXPECT_TRUE(obs[3].outcome.ok);
  EXPECT_GE(obs[3].outcome.latency_ms, 21.0);
}

// The backup's tier already runs a shadow of the request: no second run
// starts there. At the due time the shadow is promoted: its answer, in
// before the due time, is the request's (reason backup); the late primary
// still finishes and teaches.
TEST_F(DispatcherTest, AShadowOnTheBackupTierIsPromotedWhenThePrimaryIsLate) {
  ASSERT_NO_FATAL_FAILURE(CloudWithAnEdgeShadow(/*backup=*/true));
  cloud_->Hold();
  auto answer = Start(MakeFunction());
  clock_.AdvanceMicros(19'000);  // the shadow has answered, but the primary is not due yet
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock_.AdvanceMicros(2'000);
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto r = answer.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kBackup);
  EXPECT_EQ(r->response.outputs_size(), 1);
  EXPECT_EQ(
      Counter("stoa_backups_total", {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
      1);
  cloud_->Release();
  dispatcher_.reset();
  EXPECT_EQ(edge_counts_->invoke, 2);  // the warm-up and the shadow: no second run
  EXPECT_EQ(cloud_counts_->cancelled, 0);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 4u);  // two forced runs, the shadow, then the late primary
  EXPECT_TRUE(obs[2].outcome.shadow);
  EXPECT_EQ(obs[3].outcome.tier, Tier::kCloud);
  EXPECT_TRUE(obs[3].outcome.ok);
}

// The same with the shadow still running at the due time: whichever of it
// and the primary answers first is the answer.
TEST_F(DispatcherTest, APromotedShadowStillRunningAnswersWhenItEnds) {
  ASSERT_NO_FATAL_FAILURE(CloudWithAnEdgeShadow(/*backup=*/true));
  cloud_->Hold();
  edge_->Hold();
  auto answer = Start(MakeFunction());
  clock_.AdvanceMicros(25'000);  // due: promoted, but nothing to answer with yet
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_EQ(
      Counter("stoa_backups_total", {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
      1);
  edge_->Release();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto r = answer.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kBackup);
  cloud_->Release();
  dispatcher_.reset();
  EXPECT_EQ(edge_counts_->invoke, 2);
}

// Without a backup planned, a shadow's answer is never the request's.
TEST_F(DispatcherTest, AShadowWithoutABackupNeverAnswers) {
  ASSERT_NO_FATAL_FAILURE(CloudWithAnEdgeShadow(/*backup=*/false));
  cloud_->Hold();
  auto answer = Start(MakeFunction());
  clock_.AdvanceMicros(500'000);
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  cloud_->Release();
  auto r = answer.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kCloud);
  dispatcher_.reset();
}

// A primary that answers in time starts no backup, and leaves no timer.
TEST_F(DispatcherTest, NoBackupWhenTheChosenTierAnswersInTime) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  scheduler_.SetBackup(scheduler::TierSet::Of(Tier::kEdge), 20.0);
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kCloud);
  clock_.AdvanceMicros(50'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a watch would fire now
  dispatcher_.reset();
  EXPECT_EQ(edge_counts_->invoke, 0);
  EXPECT_EQ(
      Counter("stoa_backups_total", {{"function", "digits"}, {"tier", "edge"}, {"target", "edge"}}),
      0);
}

TEST_F(DispatcherTest, StatusProbesFeedQueueDepthAndLinkRoundTrips) {
  Make(true, true);
  dispatcher_->ProbeTiers();
  dispatcher_->ProbeTiers();
  auto links = scheduler_.links();
  ASSERT_EQ(links.size(), 4u);  // both tiers, two rounds
  for (const auto& l : links) {
    EXPECT_TRUE(l.ok);
    EXPECT_DOUBLE_EQ(l.rtt_ms, 1.5);  // the fake's round trip on the fake clock
  }
  EXPECT_EQ(dispatcher_->Health(Tier::kCloud).last_probe, TierHealth::Probe::kOk);
  EXPECT_DOUBLE_EQ(metrics_.AddGauge("stoa_tier_status_rtt_seconds", "")
                       .Add({{"tier", "cloud"}, {"target", "cloud"}})
                       ->Value(),
                   0.0015);
  // A failing tier's probes report failures (they count towards its circuit).
  cloud_->SetStatusStatus(absl::UnavailableError("down"));
  dispatcher_->ProbeTiers();
  links = scheduler_.links();
  ASSERT_EQ(links.size(), 6u);
  int cloud_failures = 0;
  for (size_t j = 4; j < links.size(); ++j)
    cloud_failures += links[j].tier == Tier::kCloud && !links[j].ok;
  EXPECT_EQ(cloud_failures, 1);
  EXPECT_EQ(dispatcher_->Health(Tier::kCloud).last_probe, TierHealth::Probe::kFailed);
  // The reported queue depth reaches the scheduler's features.
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(scheduler_.last_features().queue_depth[TierIndex(Tier::kEdge)], 5u);
}

TEST_F(DispatcherTest, HedgeWaitsForTheOtherRunWhenOneFails) {
  Make(true, true);
  scheduler_.SetExtras(scheduler::TierSet::Of(Tier::kCloud), {});
  edge_->SetInvokeStatus(absl::UnavailableError("down"));
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kCloud);
  dispatcher_.reset();
  EXPECT_EQ(edge_counts_->invoke, 1);  // no failover inside a hedge
  EXPECT_EQ(cloud_counts_->invoke, 1);
}

TEST_F(DispatcherTest, ShadowRunsOnEveryOtherTierAndReportsAComparison) {
  Make(true, true);
  scheduler_.SetExtras({}, scheduler::TierSet::Of(Tier::kCloud));
  auto r = Run(MakeFunction());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tier, Tier::kEdge);
  EXPECT_EQ(r->reason, Reason::kPredictedBest);
  dispatcher_.reset();
  EXPECT_EQ(cloud_counts_->invoke, 1);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  int shadows = 0;
  for (const auto& o : obs) shadows += o.outcome.shadow && o.outcome.tier == Tier::kCloud;
  EXPECT_EQ(shadows, 1);
  auto cmp = scheduler_.comparisons();
  ASSERT_EQ(cmp.size(), 1u);
  EXPECT_EQ(cmp[0].first, Tier::kEdge);
  EXPECT_TRUE(std::isfinite(cmp[0].second[0]));
  EXPECT_TRUE(std::isfinite(cmp[0].second[1]));
}

TEST_F(DispatcherTest, ReportsQueueAndExecTimesAndInFlight) {
  Make(true, false);
  ASSERT_TRUE(Run(MakeFunction()).ok());
  ASSERT_TRUE(Run(MakeFunction()).ok());
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 2u);
  EXPECT_DOUBLE_EQ(obs[1].outcome.exec_ms, 0.1);
  EXPECT_DOUBLE_EQ(obs[1].outcome.queue_ms, 0.01);
  EXPECT_EQ(obs[1].outcome.batch, 2u);
  EXPECT_EQ(obs[1].outcome.ahead, 3u);  // the depth the first response reported
  EXPECT_EQ(scheduler_.last_features().queue_depth[0], 3u);
  EXPECT_EQ(scheduler_.last_features().in_flight[0], 0u);
}

TEST_F(DispatcherTest, CloudOnlyFunctionIsUnavailableWhenCloudFails) {
  Make(true, true);
  cloud_->SetInvokeStatus(absl::UnavailableError("connection refused"));
  auto r = Run(MakeFunction({"cloud"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tier cloud (fake-cloud)"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("connection refused"));
  EXPECT_EQ(edge_counts_->invoke, 0);
}

TEST_F(DispatcherTest, FunctionErrorsDoNotFailOver) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->SetInvokeStatus(absl::InvalidArgumentError("input 'pixels' has shape [3]"));
  auto r = Run(MakeFunction());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(edge_counts_->invoke, 0);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_FALSE(obs[0].outcome.tier_failure);
}

TEST_F(DispatcherTest, DeadlineIsRespectedWhenTheExecutorHangs) {
  Make(true, true);
  cloud_->Hold();  // never answers, like a stalled link
  auto pending = Start(MakeFunction({"cloud"}, /*timeout_ms=*/150));
  EXPECT_EQ(cloud_->last_timeout_ms(), 150u);  // the whole budget: no time passed
  clock_.AdvanceMicros(150'000);               // the deadline, but not the watchdog's grace
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  clock_.AdvanceMicros(20'000);
  auto r = pending.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("deadline of 150 ms"));
  EXPECT_EQ(Counter("stoa_invocations_total", {{"function", "digits"},
                                               {"tier", "cloud"},
                                               {"target", "cloud"},
                                               {"outcome", "deadline_exceeded"}}),
            1);
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_TRUE(obs[0].outcome.tier_failure);  // the executor never answered
}

TEST_F(DispatcherTest, AFunctionsOwnDeadlineIsNotATierFailure) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  // The executor stopped the function at its budget and said so.
  cloud_->SetInvokeStatus(absl::DeadlineExceededError("the function ran past its deadline"));
  auto r = Run(MakeFunction({"edge", "cloud"}, /*timeout_ms=*/100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(edge_counts_->invoke, 0);  // no failover: it would loop there too
  auto obs = scheduler_.observations();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_FALSE(obs[0].outcome.tier_failure);
}

TEST_F(DispatcherTest, NoFailoverPastTheDeadline) {
  Make(true, true);
  scheduler_.Prefer(Tier::kCloud);
  cloud_->Hold();
  auto pending = Start(MakeFunction({"edge", "cloud"}, /*timeout_ms=*/100));
  clock_.AdvanceMicros(99'500);  // under 1 ms left: no time for another attempt
  cloud_->Release(absl::UnavailableError("connection reset"));
  auto r = pending.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(edge_counts_->invoke, 0);
}

TEST_F(DispatcherTest, ForcedTierIsCheckedAndNeverFailsOver) {
  Make(true, false);
  auto r = Run(MakeFunction({"edge"}), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not run on tier cloud"));
  r = Run(MakeFunction(), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tier cloud is not configured"));
  r = Run(MakeFunction({"cloud"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no tier available"));

  r = Run(MakeFunction(), Tier::kEdge);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reason, Reason::kForced);
  // A forced tier still carries the model's prediction for it.
  EXPECT_DOUBLE_EQ(r->predicted_ms, 1.5);
}

TEST_F(DispatcherTest, ForcedTierFailureIsReturned) {
  Make(true, true);
  cloud_->SetInvokeStatus(absl::UnavailableError("down"));
  auto r = Run(MakeFunction(), Tier::kCloud);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(edge_counts_->invoke, 0);
}

TEST_F(DispatcherTest, ForgetUnloadsAndForgets) {
  Make(true, true);
  auto f = MakeFunction();
  ASSERT_TRUE(Run(f).ok());
  dispatcher_->Forget("digits", "");
  EXPECT_THAT(scheduler_.forgotten(), ::testing::ElementsAre("digits"));
  auto stats = dispatcher_->Stats("digits", "abc123");
  EXPECT_FALSE(stats[0].loaded);
  EXPECT_EQ(stats[0].invocations, 0u);
  EXPECT_EQ(edge_counts_->unload, 1);
  EXPECT_EQ(cloud_counts_->unload, 1);
  // The next call is a cold start again.
  auto again = Run(f);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->cold_start);
}

TEST_F(DispatcherTest, ConcurrentInvocations) {
  Make(true, true, /*threads=*/2);
  auto f = MakeFunction();
  constexpr int kCalls = 200;
  std::atomic<int> ok{0};
  std::promise<void> all_done;
  std::atomic<int> remaining{kCalls};
  for (int i = 0; i < kCalls; ++i) {
    dispatcher_->Invoke(f, MakeRequest(), i % 2 ? Tier::kEdge : Tier::kCloud,
                        [&](absl::StatusOr<DispatchResult> r) {
                          if (r.ok()) ok++;
                          if (--remaining == 0) all_done.set_value();
                        });
  }
  all_done.get_future().wait();
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(
      Counter("stoa_invocations_total",
              {{"function", "digits"}, {"tier", "cloud"}, {"target", "cloud"}, {"outcome", "ok"}}),
      kCalls / 2);
}

}  // namespace
}  // namespace stoa::gateway
