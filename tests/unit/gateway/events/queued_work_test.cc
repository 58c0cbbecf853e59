// Issue 13 item 5: async events waiting in the durable queue are part of
// the placement scheduler's queue term (gateway/events/queued_work.h).
#include "gateway/events/queued_work.h"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateway/events/durable_event_queue.h"
#include "gateway/tier_monitor.h"
#include "gtest/gtest.h"
#include "scheduler/placement_scheduler.h"
#include "tests/fakes/executors/fake_executor.h"
#include "tests/fakes/gateway/fake_control_plane.h"
#include "tests/fakes/gateway/fake_invoker.h"

namespace stoa::gateway::events {
namespace {

namespace fs = std::filesystem;
using scheduler::Tier;
using scheduler::TierIndex;
using scheduler::TierSet;

TierSet Both() {
  TierSet s = TierSet::Of(Tier::kEdge);
  s.Add(Tier::kCloud);
  return s;
}

TEST(QueuedWorkTest, EachEventCountsOneOverItsTargetsOnEach) {
  QueuedWork work;
  for (int i = 0; i < 3; ++i) work.Add(Both());
  work.Add(TierSet::Of(Tier::kCloud));
  work.Add(TierSet());  // runs nowhere here: counted nowhere
  EXPECT_DOUBLE_EQ(work.Share(Tier::kEdge), 1.5);
  EXPECT_DOUBLE_EQ(work.Share(Tier::kCloud), 2.5);
  EXPECT_EQ(work.Depth(Tier::kEdge), 2u);  // 1.5 rounds to 2
  EXPECT_EQ(work.Depth(Tier::kCloud), 3u);
  EXPECT_EQ(work.events(), 4u);
  work.Remove(TierSet::Of(Tier::kCloud));
  for (int i = 0; i < 3; ++i) work.Remove(Both());
  EXPECT_DOUBLE_EQ(work.Share(Tier::kEdge), 0.0);
  EXPECT_DOUBLE_EQ(work.Share(Tier::kCloud), 0.0);
  EXPECT_EQ(work.events(), 0u);
}

// The Invoker the queue dispatches to: records how many events were still
// counted as waiting (edge + cloud shares) when each one was placed.
class RecordingInvoker final : public Invoker {
 public:
  RecordingInvoker(FakeInvoker& inner, const QueuedWork& work) : inner_(inner), work_(work) {}
  void Invoke(const StoredFunction& function, v1::InvokeRequest request, std::optional<Tier> forced,
              DispatchCallback done, common::CancelSignalPtr cancel) override {
    {
      absl::MutexLock lock(&mu_);
      seen_.push_back(work_.Share(Tier::kEdge) + work_.Share(Tier::kCloud));
    }
    inner_.Invoke(function, std::move(request), forced, std::move(done), std::move(cancel));
  }
  void Forget(const std::string& f, const std::string& sha) override { inner_.Forget(f, sha); }
  TierSet configured_tiers() const override { return inner_.configured_tiers(); }
  TierHealth Health(Tier t) const override { return inner_.Health(t); }
  FunctionStats Stats(const std::string& f, const std::string& sha) const override {
    return inner_.Stats(f, sha);
  }
  std::vector<double> seen() const {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  FakeInvoker& inner_;
  const QueuedWork& work_;
  mutable absl::Mutex mu_;
  std::vector<double> seen_ ABSL_GUARDED_BY(mu_);
};

class QueuedWorkSchedulerTest : public ::testing::Test {
 protected:
  QueuedWorkSchedulerTest()
      : edge_("fake-edge", {0, &clock_, 1000}),
        cloud_("fake-cloud", {0, &clock_, 1000}),
        monitor_({&edge_, &cloud_}, scheduler_, clock_, metrics_, {0, &work_}),
        invoker_(fake_, work_) {}

  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            absl::StrCat("stoa_queued_work_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    Registration reg;
    reg.spec.set_name("echo");
    reg.spec.set_runtime("wasm");
    reg.spec.set_content_type("text/plain");
    ASSERT_TRUE(control_.Register(reg, true).ok());
    fake_.SetConfigured(Both());
    TeachQueueTerm();
  }
  void TearDown() override {
    queue_.reset();
    fs::remove_all(dir_);
  }

  // 60 runs on the edge, one at a time behind `ahead` others of 10 ms: the
  // queue term learns queue wait = ahead × 10 ms.
  void TeachQueueTerm() {
    for (int i = 0; i < 60; ++i) {
      scheduler::Outcome o;
      o.tier = Tier::kEdge;
      o.ahead = static_cast<uint32_t>(i % 6);
      o.queue_ms = 10.0 * o.ahead;
      o.exec_ms = 10.0;
      o.server_ms = o.queue_ms + o.exec_ms;
      o.latency_ms = o.server_ms + 1.0;
      o.request_bytes = 5;
      scheduler_.Observe("echo", scheduler::Decision(Tier::kEdge, scheduler::Reason::kForced), o);
    }
  }

  void Open(uint32_t max_running) {
    DurableEventQueue::Options options;
    options.dir = dir_;
    options.max_running = max_running;
    options.queued_work = &work_;
    auto q = DurableEventQueue::Open(options, control_, invoker_, metrics_);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = *std::move(q);
    queue_->Start();
  }

  void Submit(int n) {
    for (int i = 0; i < n; ++i) {
      EventSubmission s;
      s.function = "echo";
      s.body = absl::StrCat("event ", i);
      std::promise<absl::StatusOr<Accepted>> done;
      queue_->Submit(std::move(s), [&](absl::StatusOr<Accepted> a) { done.set_value(a); });
      ASSERT_TRUE(done.get_future().get().ok());
    }
  }

  // What the dispatcher would predict for a synchronous call of "echo" on
  // the edge now (the features TierMonitor fills).
  double PredictEdgeMs() {
    scheduler::Features features;
    features.request_bytes = 5;
    features.warm = Both();
    monitor_.FillFeatures(features);
    return scheduler_.PredictMs("echo", Tier::kEdge, features);
  }

  double QueuedAsyncGauge(const std::string& target) {
    return metrics_.AddGauge("stoa_queue_queued_async", "")
        .Add({{"tier", target}, {"target", target}})
        ->Value();
  }

  bool WaitUntil(const std::function<bool()>& ok) {
    for (int i = 0; i < 500 && !ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ok();
  }

  std::string dir_;
  common::FakeClock clock_{0};
  common::metrics::Registry metrics_;
  scheduler::PlacementScheduler scheduler_{clock_, &metrics_, 1};
  executors::FakeExecutor edge_, cloud_;
  QueuedWork work_;
  TierMonitor monitor_;
  FakeControlPlane control_;
  FakeInvoker fake_;
  RecordingInvoker invoker_;
  std::unique_ptr<DurableEventQueue> queue_;
};

TEST_F(QueuedWorkSchedulerTest, PredictionGrowsWithQueuedEventsAndDropsBackAsTheyRun) {
  const double idle_ms = PredictEdgeMs();
  ASSERT_GT(idle_ms, 0.0);
  // Offline: every probe failed, so accepted events wait in the queue.
  fake_.SetProbe(Tier::kEdge, TierHealth::Probe::kFailed);
  fake_.SetProbe(Tier::kCloud, TierHealth::Probe::kFailed);
  Open(/*max_running=*/16);

  Submit(4);  // 2 on each target's queue term
  const double four_ms = PredictEdgeMs();
  EXPECT_DOUBLE_EQ(monitor_.Health(Tier::kEdge).queued_async, 2.0);
  EXPECT_DOUBLE_EQ(monitor_.Health(Tier::kCloud).queued_async, 2.0);
  // Two more requests ahead of 10 ms each (the learned slope is ~1).
  EXPECT_NEAR(four_ms - idle_ms, 20.0, 3.0);
  Submit(4);
  const double eight_ms = PredictEdgeMs();
  EXPECT_NEAR(eight_ms - four_ms, 20.0, 3.0);
  EXPECT_TRUE(WaitUntil([&] { return QueuedAsyncGauge("edge") == 4.0; }))
      << QueuedAsyncGauge("edge");
  EXPECT_TRUE(fake_.calls().empty());

  // The link returns: the events run, and the prediction drops back.
  fake_.SetProbe(Tier::kEdge, TierHealth::Probe::kOk);
  fake_.SetProbe(Tier::kCloud, TierHealth::Probe::kOk);
  ASSERT_TRUE(WaitUntil([&] { return fake_.calls().size() == 8; }));
  EXPECT_EQ(work_.events(), 0u);
  EXPECT_DOUBLE_EQ(PredictEdgeMs(), idle_ms);
  EXPECT_TRUE(WaitUntil([&] { return QueuedAsyncGauge("edge") == 0.0; }));
}

TEST_F(QueuedWorkSchedulerTest, TheEventBeingPlacedIsNotCountedNorThoseAlreadyDispatched) {
  fake_.SetProbe(Tier::kEdge, TierHealth::Probe::kFailed);
  fake_.SetProbe(Tier::kCloud, TierHealth::Probe::kFailed);
  Open(/*max_running=*/1);  // one at a time: each placement sees the rest waiting
  Submit(3);
  EXPECT_EQ(work_.events(), 3u);
  fake_.SetProbe(Tier::kEdge, TierHealth::Probe::kOk);
  fake_.SetProbe(Tier::kCloud, TierHealth::Probe::kOk);
  ASSERT_TRUE(WaitUntil([&] { return invoker_.seen().size() == 3; }));
  EXPECT_EQ(invoker_.seen(), (std::vector<double>{2.0, 1.0, 0.0}));
  EXPECT_TRUE(WaitUntil([&] { return work_.events() == 0; }));
}

TEST_F(QueuedWorkSchedulerTest, RetriedAndReplayedEventsCountAgainAndCancelledOnesStop) {
  // A forced tier counts only there.
  Open(/*max_running=*/16);
  fake_.SetError(absl::UnavailableError("edge down"));  // retried until the TTL
  Submit(1);
  ASSERT_TRUE(WaitUntil([&] { return !fake_.calls().empty(); }));
  // Back to waiting (a backoff) after the failed run.
  EXPECT_TRUE(WaitUntil([&] { return work_.events() == 1; }));
  fake_.SetProbe(Tier::kEdge, TierHealth::Probe::kFailed);
  fake_.SetProbe(Tier::kCloud, TierHealth::Probe::kFailed);
  EventSubmission s;
  s.function = "echo";
  s.body = "to the cloud";
  s.forced_tier = "cloud";
  std::promise<absl::StatusOr<Accepted>> done;
  queue_->Submit(std::move(s), [&](absl::StatusOr<Accepted> a) { done.set_value(a); });
  auto forced = done.get_future().get();
  ASSERT_TRUE(forced.ok());
  EXPECT_TRUE(WaitUntil([&] { return work_.events() == 2; }));
  EXPECT_DOUBLE_EQ(work_.Share(Tier::kEdge), 0.5);
  EXPECT_DOUBLE_EQ(work_.Share(Tier::kCloud), 1.5);

  // A restart: the queue forgets its count, replay counts the events again.
  queue_.reset();
  EXPECT_EQ(work_.events(), 0u);
  Open(16);
  EXPECT_EQ(work_.events(), 2u);
  EXPECT_DOUBLE_EQ(work_.Share(Tier::kCloud), 1.5);

  std::promise<absl::Status> cancelled;
  queue_->Cancel(forced->id, [&](absl::Status st) { cancelled.set_value(st); });
  ASSERT_TRUE(cancelled.get_future().get().ok());
  EXPECT_EQ(work_.events(), 1u);
  EXPECT_DOUBLE_EQ(work_.Share(Tier::kCloud), 0.5);
}

}  // namespace
}  // namespace stoa::gateway::events
