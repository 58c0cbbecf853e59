#include "scheduler/tier_estimate.h"

#include <cmath>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

Outcome Ok(double latency_ms, double load_ms = 0.0) {
  Outcome o;
  o.latency_ms = latency_ms;
  o.load_ms = load_ms;
  return o;
}

TEST(EwmaTest, FirstSampleSetsMeanThenSmooths) {
  Ewma e;
  EXPECT_FALSE(e.HasValue());
  EXPECT_TRUE(std::isnan(e.Mean()));
  e.Add(10.0, 0.5);
  EXPECT_DOUBLE_EQ(e.Mean(), 10.0);
  EXPECT_DOUBLE_EQ(e.Deviation(), 0.0);
  e.Add(20.0, 0.5);
  EXPECT_DOUBLE_EQ(e.Mean(), 15.0);
  EXPECT_DOUBLE_EQ(e.Deviation(), 5.0);  // 0.5 · |20 − 10|
  EXPECT_DOUBLE_EQ(e.Estimate(Objective::kMean), 15.0);
  EXPECT_DOUBLE_EQ(e.Estimate(Objective::kP95), 25.0);
  EXPECT_EQ(e.Count(), 2u);
}

TEST(TierEstimateTest, UnmeasuredPredictsNothing) {
  TierEstimate t;
  EXPECT_FALSE(t.Predict(true, Objective::kMean).measured);
  EXPECT_FALSE(t.Predict(false, Objective::kMean).measured);
}

TEST(TierEstimateTest, SplitsWarmAndColdParts) {
  TierEstimate t;
  t.Record(Ok(130.0, 100.0), 0.5);  // cold start: 100 ms load, 30 ms warm
  EXPECT_DOUBLE_EQ(t.warm().Mean(), 30.0);
  EXPECT_DOUBLE_EQ(t.cold().Mean(), 100.0);
  EXPECT_DOUBLE_EQ(t.Predict(true, Objective::kMean).ms, 30.0);
  EXPECT_DOUBLE_EQ(t.Predict(false, Objective::kMean).ms, 130.0);
  t.Record(Ok(10.0), 0.5);  // warm: only the warm part moves
  EXPECT_DOUBLE_EQ(t.warm().Mean(), 20.0);
  EXPECT_DOUBLE_EQ(t.cold().Mean(), 100.0);
  EXPECT_DOUBLE_EQ(t.LastLatencyMs(), 10.0);
  EXPECT_EQ(t.Observations(), 2u);
}

TEST(TierEstimateTest, DefaultColdCostUntilObserved) {
  TierEstimate t;
  t.Record(Ok(5.0), 0.2);
  EXPECT_DOUBLE_EQ(t.Predict(true, Objective::kMean).ms, 5.0);
  EXPECT_DOUBLE_EQ(t.Predict(false, Objective::kMean).ms, 5.0 + kDefaultColdMs);
}

TEST(TierEstimateTest, IgnoresNonFiniteAndClampsNegative) {
  TierEstimate t;
  t.Record(Ok(NAN), 0.2);
  t.Record(Ok(INFINITY), 0.2);
  EXPECT_EQ(t.Observations(), 0u);
  t.Record(Ok(-3.0), 0.2);
  EXPECT_DOUBLE_EQ(t.warm().Mean(), 0.0);
  t.Record(Ok(4.0, 9.0), 1.0);  // load larger than latency: all of it is load
  EXPECT_DOUBLE_EQ(t.warm().Mean(), 0.0);
  EXPECT_DOUBLE_EQ(t.cold().Mean(), 4.0);
}

}  // namespace
}  // namespace stoa::scheduler
