#include "scheduler/latency_model.h"

#include <cmath>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

Outcome Remote(double latency, double server, double queue, double exec, double load = 0) {
  Outcome o;
  o.latency_ms = latency;
  o.server_ms = server;
  o.queue_ms = queue;
  o.exec_ms = exec;
  o.load_ms = load;
  o.request_bytes = 10000;
  return o;
}

TEST(LatencyModelTest, SplitsTermsAndSumsThem) {
  LatencyModel m;
  ModelInput in;
  in.request_kb = 10;
  EXPECT_FALSE(m.Predict(in, Objective::kMean).measured);
  // net 50, queue 0, exec 5; the first call also loads for 100 ms.
  m.Observe(in, Remote(155, 105, 0, 5, 100));
  for (int i = 0; i < 30; ++i) m.Observe(in, Remote(55, 5, 0, 5));
  Prediction warm = m.Predict(in, Objective::kMean);
  ASSERT_TRUE(warm.measured);
  EXPECT_NEAR(warm.terms[TermIndex(Term::kNet)].mean_ms, 50, 0.5);
  EXPECT_NEAR(warm.terms[TermIndex(Term::kExec)].mean_ms, 5, 0.1);
  EXPECT_EQ(warm.terms[TermIndex(Term::kCold)].mean_ms, 0.0);
  EXPECT_NEAR(warm.mean_ms, 55, 0.6);
  in.warm = false;
  EXPECT_NEAR(m.Predict(in, Objective::kMean).mean_ms, 155, 0.6);
  // The in-process edge: no net term.
  in.warm = true;
  in.networked = false;
  EXPECT_NEAR(m.Predict(in, Objective::kMean).mean_ms, 5, 0.1);
}

// A function's first run after its load is slow (allocation, page faults):
// the first warm run starts the exec fit over rather than being averaged
// with it; a later reload's slow run is just a sample.
TEST(LatencyModelTest, TheFirstWarmRunReplacesTheColdRunsExecutionTime) {
  LatencyModel m;
  ModelInput in;
  m.Observe(in, Remote(275, 270, 0, 70, 200));  // loaded, then ran in 70 ms
  EXPECT_NEAR(m.Predict(in, Objective::kMean).terms[TermIndex(Term::kExec)].mean_ms, 70, 0.1);
  m.Observe(in, Remote(26, 21, 0, 21));
  EXPECT_NEAR(m.Predict(in, Objective::kMean).terms[TermIndex(Term::kExec)].mean_ms, 21, 0.1);
  for (int i = 0; i < 20; ++i) m.Observe(in, Remote(26, 21, 0, 21));
  m.Observe(in, Remote(255, 250, 0, 50, 200));  // evicted and reloaded
  m.Observe(in, Remote(26, 21, 0, 21));
  EXPECT_NEAR(m.Predict(in, Objective::kMean).terms[TermIndex(Term::kExec)].mean_ms, 21, 1.0);
}

TEST(LatencyModelTest, ReturnsPerTermErrorsAndP95IsAboveMean) {
  LatencyModel m;
  ModelInput in;
  TermErrors first = m.Observe(in, Remote(20, 10, 0, 10));
  EXPECT_NEAR(first[TermIndex(Term::kNet)], 10, 1e-9);
  EXPECT_TRUE(std::isnan(first[TermIndex(Term::kCold)]));
  for (int i = 0; i < 100; ++i) m.Observe(in, Remote(20 + (i % 10), 10, 0, 10));
  Prediction p = m.Predict(in, Objective::kP95);
  EXPECT_GT(p.p95_ms, p.mean_ms);
  EXPECT_DOUBLE_EQ(p.ms, p.p95_ms);
  EXPECT_GT(m.Snap().mean_abs_error[TermIndex(Term::kNet)], 0.5);
  std::vector<double> recent = m.Snap().recent_ms;
  ASSERT_EQ(recent.size(), static_cast<size_t>(LatencyModel::kRecent));
  EXPECT_EQ(recent.back(), 20 + 99 % 10);
  EXPECT_EQ(recent.front(), 20 + 92 % 10);
}

TEST(LatencyModelTest, OverdueCallsAddToThePrediction) {
  LatencyModel m;
  ModelInput in;
  for (int i = 0; i < 20; ++i) m.Observe(in, Remote(12, 10, 0, 10));
  const double base = m.Predict(in, Objective::kMean).mean_ms;
  in.overdue_ms = 40;
  Prediction p = m.Predict(in, Objective::kP95);
  EXPECT_NEAR(p.mean_ms, base + 40, 1e-9);
  EXPECT_DOUBLE_EQ(p.overdue_ms, 40);
  EXPECT_NEAR(p.p95_ms, p.mean_ms + p.uncertainty_ms, 1e-9);
}

// The executor's report of a faster tier (a saturated spell's end, a quota
// raised) after the far-late answer explains it: the hold ends there. A
// report from before the answer does not.
TEST(LatencyModelTest, AReportOfAFasterTierAfterAFarLateAnswerEndsTheHold) {
  LatencyModel m;
  ModelInput in;
  for (int i = 0; i < 20; ++i) m.Observe(in, Remote(12, 10, 0, 10));
  in.now_us = 5'000'000;
  m.Observe(in, Remote(260, 250, 60, 190));
  in.reported_faster_us = 4'900'000;  // before the answer
  in.now_us = 5'100'000;
  EXPECT_NEAR(m.Predict(in, Objective::kMean).mean_ms, 260, 1e-6);
  in.reported_faster_us = 5'050'000;  // after it
  const Prediction p = m.Predict(in, Objective::kMean);
  EXPECT_EQ(p.late_ms, 0.0);
  EXPECT_LT(p.mean_ms, 60);
}

// On a networked tier, a status probe back at the usual round trip after
// the far-late answer ends the hold too (the executor and the link answer
// as usual: the late answer was a one-off). Not inside a saturated spell
// (the probes are as bimodal as the runs), not on the in-process edge, and
// not with a probe from before the answer.
TEST(LatencyModelTest, AProbeAtTheUsualRoundTripAfterAFarLateAnswerEndsTheHold) {
  struct Case {
    bool networked, saturated;
    int64_t probe_us;
    bool held;
  };
  for (const Case& c : {Case{true, false, 5'050'000, false}, Case{true, false, 4'950'000, true},
                        Case{true, true, 5'050'000, true}, Case{false, false, 5'050'000, true}}) {
    LatencyModel m;
    ModelInput in;
    in.networked = c.networked;
    for (int i = 0; i < 20; ++i) m.Observe(in, Remote(12, 10, 0, 10));
    in.now_us = 5'000'000;
    m.Observe(in, Remote(260, 250, 60, 190));
    in.now_us = 5'100'000;
    in.saturated = c.saturated;
    in.steady_probe_us = c.probe_us;
    const Prediction p = m.Predict(in, Objective::kMean);
    EXPECT_EQ(p.late_ms > 0.0, c.held) << "networked " << c.networked << ", saturated "
                                       << c.saturated << ", probe at " << c.probe_us;
  }
}

// One answer far later than predicted (a starved executor's first answer)
// holds the prediction up until the next answer: the terms' change
// detection needs two, and in between the tier looked as fast as before.
TEST(LatencyModelTest, AFarLateAnswerHoldsThePredictionUntilTheNextAnswer) {
  LatencyModel m;
  ModelInput in;
  for (int i = 0; i < 20; ++i) m.Observe(in, Remote(12, 10, 0, 10));
  EXPECT_NEAR(m.Predict(in, Objective::kMean).mean_ms, 12, 0.5);
  m.Observe(in, Remote(260, 250, 60, 190));
  Prediction late = m.Predict(in, Objective::kMean);
  EXPECT_NEAR(late.mean_ms, 260, 1e-6);
  EXPECT_GT(late.late_ms, 200);
  in.warm = false;  // a cold start is charged on top of the late run
  EXPECT_GT(m.Predict(in, Objective::kMean).mean_ms, 260 + 100);
  in.warm = true;
  // The next answer is as quick as before: the spike was a one-off.
  m.Observe(in, Remote(12, 10, 0, 10));
  Prediction after = m.Predict(in, Objective::kMean);
  EXPECT_EQ(after.late_ms, 0.0);
  EXPECT_LT(after.mean_ms, 30);
  // An answer a little late (under twice the prediction + 5 ms) holds nothing.
  m.Observe(in, Remote(25, 23, 0, 23));
  EXPECT_EQ(m.Predict(in, Objective::kMean).late_ms, 0.0);
}

// A run sent just after the executor reported a much lower CPU quota
// (ModelInput::after_slower_evidence) that answers far late restarts the
// exec term from it at once; the same run otherwise moves it only part of
// the way (three such runs make a change).
TEST(LatencyModelTest, AFarLateRunAfterALoweredQuotaRestartsTheExecTerm) {
  for (bool after_report : {true, false}) {
    LatencyModel m;
    ModelInput in;
    for (int i = 0; i < 20; ++i) m.Observe(in, Remote(5, 4, 0, 4));
    ModelInput late = in;
    late.after_slower_evidence = after_report;
    m.Observe(late, Remote(41, 40, 0, 40));
    const double exec = m.Predict(in, Objective::kMean).terms[TermIndex(Term::kExec)].mean_ms;
    if (after_report) {
      EXPECT_NEAR(exec, 40, 1.0);
    } else {
      EXPECT_LT(exec, 20);
    }
  }
}

TEST(LatencyModelTest, IgnoresNonFinite) {
  LatencyModel m;
  ModelInput in;
  m.Observe(in, Remote(std::nan(""), 1, 0, 1));
  EXPECT_EQ(m.Snap().observations, 0u);
}

}  // namespace
}  // namespace stoa::scheduler
