#include "gateway/tier_monitor.h"

#include "gtest/gtest.h"
#include "tests/fakes/executors/fake_executor.h"
#include "tests/fakes/scheduler/fake_scheduler.h"

namespace stoa::gateway {
namespace {

using executors::FakeExecutor;
using executors::InvokeCallback;
using executors::LoadCallback;
using executors::StatusCallback;
using executors::UnloadCallback;
using scheduler::Tier;
using scheduler::TierIndex;

class TierMonitorTest : public ::testing::Test {
 protected:
  TierMonitorTest()
      : cloud_("fake-cloud", {0, &clock_, /*status_rtt_us=*/2500}),
        monitor_({nullptr, &cloud_}, scheduler_, clock_, metrics_,
                 {/*status_interval_ms=*/0, &queued_}) {}

  double Gauge(const std::string& name, const std::string& tier) {
    return metrics_.AddGauge(name, "").Add({{"tier", tier}, {"target", tier}})->Value();
  }

  common::FakeClock clock_{0};
  common::metrics::Registry metrics_;
  scheduler::FakeScheduler scheduler_;
  FakeExecutor cloud_;
  events::QueuedWork queued_;
  TierMonitor monitor_;
};

TEST_F(TierMonitorTest, KnowsWhichTiersExist) {
  EXPECT_EQ(monitor_.configured(), scheduler::TierSet::Of(Tier::kCloud));
  EXPECT_EQ(monitor_.executor(Tier::kEdge), nullptr);
  EXPECT_EQ(monitor_.Describe(Tier::kCloud), "fake-cloud");
  EXPECT_EQ(monitor_.Describe(Tier::kEdge), "");
  EXPECT_FALSE(monitor_.Health(Tier::kEdge).configured);
  EXPECT_EQ(monitor_.Health(Tier::kCloud).last_probe, TierHealth::Probe::kNone);
}

TEST_F(TierMonitorTest, InFlightCallsAndReportedDepthAreTheQueueFeatures) {
  monitor_.ReportDepth(Tier::kCloud, 4);
  EXPECT_EQ(Gauge("stoa_executor_queue_depth", "cloud"), 4);
  EXPECT_EQ(monitor_.CallStarted(Tier::kCloud, TierMonitor::CallKind::kInvoke), 4u);
  EXPECT_EQ(monitor_.CallStarted(Tier::kCloud, TierMonitor::CallKind::kInvoke), 5u);
  // Control calls (loads, probes) are waited for but are not queue work.
  EXPECT_EQ(monitor_.CallStarted(Tier::kCloud, TierMonitor::CallKind::kControl), 0u);
  scheduler::Features features;
  monitor_.FillFeatures(features);
  EXPECT_EQ(features.in_flight[TierIndex(Tier::kCloud)], 2u);
  EXPECT_EQ(features.queue_depth[TierIndex(Tier::kCloud)], 4u);
  monitor_.CallEnded(Tier::kCloud, TierMonitor::CallKind::kInvoke);
  monitor_.CallEnded(Tier::kCloud, TierMonitor::CallKind::kInvoke);
  monitor_.CallEnded(Tier::kCloud, TierMonitor::CallKind::kControl);
  EXPECT_EQ(monitor_.Health(Tier::kCloud).in_flight, 0u);
}

TEST_F(TierMonitorTest, ACallPastItsDueTimeIsTheOverdueFeature) {
  using Kind = TierMonitor::CallKind;
  clock_.SetMicros(1'000'000'000);
  // Predicted 10 ms: due after 2 × 10 + 5 = 25 ms.
  const int64_t due = TierMonitor::DueMicros(clock_.NowMicros(), 10.0);
  EXPECT_EQ(due, clock_.NowMicros() + 25'000);
  EXPECT_EQ(TierMonitor::DueMicros(0, 0.0), 0);  // no prediction: never due
  monitor_.CallStarted(Tier::kCloud, Kind::kInvoke, due);
  monitor_.CallStarted(Tier::kCloud, Kind::kInvoke);  // no prediction
  scheduler::Features features;
  clock_.AdvanceMicros(20'000);
  monitor_.FillFeatures(features);
  EXPECT_EQ(features.overdue_ms[TierIndex(Tier::kCloud)], 0.0);  // not due yet
  clock_.AdvanceMicros(100'000);
  monitor_.FillFeatures(features);
  EXPECT_DOUBLE_EQ(features.overdue_ms[TierIndex(Tier::kCloud)], 95.0);
  // A later call due earlier than the first is the most overdue.
  const int64_t due2 = TierMonitor::DueMicros(clock_.NowMicros() - 200'000, 1.0);
  monitor_.CallStarted(Tier::kCloud, Kind::kInvoke, due2);
  monitor_.FillFeatures(features);
  EXPECT_DOUBLE_EQ(features.overdue_ms[TierIndex(Tier::kCloud)], 193.0);
  monitor_.CallEnded(Tier::kCloud, Kind::kInvoke, due2);
  monitor_.FillFeatures(features);
  EXPECT_DOUBLE_EQ(features.overdue_ms[TierIndex(Tier::kCloud)], 95.0);
  // Once the late call answers, the tier is not overdue any more.
  monitor_.CallEnded(Tier::kCloud, Kind::kInvoke, due);
  monitor_.CallEnded(Tier::kCloud, Kind::kInvoke);
  monitor_.FillFeatures(features);
  EXPECT_EQ(features.overdue_ms[TierIndex(Tier::kCloud)], 0.0);
  EXPECT_EQ(features.overdue_ms[TierIndex(Tier::kEdge)], 0.0);
}

TEST_F(TierMonitorTest, ProbesFeedTheLinkTermAndTheCircuit) {
  monitor_.ProbeAll();
  auto links = scheduler_.links();
  ASSERT_EQ(links.size(), 1u);  // the absent edge is not probed
  EXPECT_EQ(links[0].tier, Tier::kCloud);
  EXPECT_TRUE(links[0].ok);
  EXPECT_DOUBLE_EQ(links[0].rtt_ms, 2.5);
  EXPECT_DOUBLE_EQ(Gauge("stoa_tier_status_rtt_seconds", "cloud"), 0.0025);
  TierHealth health = monitor_.Health(Tier::kCloud);
  EXPECT_EQ(health.last_probe, TierHealth::Probe::kOk);
  EXPECT_EQ(health.reported_depth, 5u);  // the fake's GetStatus depth

  cloud_.SetStatusStatus(absl::UnavailableError("down"));
  monitor_.ProbeAll();
  links = scheduler_.links();
  ASSERT_EQ(links.size(), 2u);
  EXPECT_FALSE(links[1].ok);
  EXPECT_EQ(monitor_.Health(Tier::kCloud).last_probe, TierHealth::Probe::kFailed);
}

// An executor whose status probes wait until the test answers them.
class ParkedStatusExecutor final : public executors::Executor {
 public:
  using Executor::Invoke;
  void Invoke(v1::InvokeRequest, InvokeCallback done, common::CancelSignalPtr) override {
    done(absl::UnimplementedError("status only"));
  }
  void LoadFunction(v1::LoadFunctionRequest, LoadCallback done) override {
    done(absl::UnimplementedError("status only"));
  }
  void UnloadFunction(v1::UnloadFunctionRequest, UnloadCallback done) override {
    done(absl::UnimplementedError("status only"));
  }
  void GetStatus(StatusCallback done) override { parked_.push_back(std::move(done)); }
  std::string Describe() const override { return "parked"; }

  size_t parked() const { return parked_.size(); }
  // Answers the oldest parked probe.
  void AnswerOne() {
    StatusCallback done = std::move(parked_.front());
    parked_.erase(parked_.begin());
    done(v1::GetStatusResponse());
  }

 private:
  std::vector<StatusCallback> parked_;
};

TEST(TierMonitorProbeTest, ARoundThatFindsAProbeInFlightProbesAgainWhenItAnswers) {
  common::FakeClock clock{0};
  common::metrics::Registry metrics;
  scheduler::FakeScheduler scheduler;
  ParkedStatusExecutor cloud;
  TierMonitor monitor({nullptr, &cloud}, scheduler, clock, metrics, {0, nullptr});

  monitor.ProbeAll();
  ASSERT_EQ(cloud.parked(), 1u);
  cloud.AnswerOne();  // answered within its period: nothing more
  EXPECT_EQ(cloud.parked(), 0u);

  monitor.ProbeAll();
  monitor.ProbeAll();  // the probe is still in flight: one per tier
  monitor.ProbeAll();
  ASSERT_EQ(cloud.parked(), 1u);
  cloud.AnswerOne();  // the rounds it missed: one probe at once
  ASSERT_EQ(cloud.parked(), 1u);
  cloud.AnswerOne();
  EXPECT_EQ(cloud.parked(), 0u);
  EXPECT_EQ(scheduler.links().size(), 3u);
}

}  // namespace
}  // namespace stoa::gateway
