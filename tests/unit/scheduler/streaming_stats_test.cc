#include "scheduler/streaming_stats.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

TEST(P2QuantileTest, ExactForFewSamples) {
  P2Quantile q(0.95);
  EXPECT_EQ(q.Value(), 0.0);
  q.Add(3);
  q.Add(1);
  q.Add(2);
  EXPECT_EQ(q.Value(), 3.0);
  q.Add(std::nan(""));
  EXPECT_EQ(q.Count(), 3u);
}

TEST(P2QuantileTest, TracksP95OfExponential) {
  std::mt19937_64 gen(7);
  std::exponential_distribution<double> exp(1.0 / 10.0);  // mean 10
  P2Quantile q(0.95);
  std::vector<double> all;
  for (int i = 0; i < 20000; ++i) {
    double x = exp(gen);
    q.Add(x);
    all.push_back(x);
  }
  std::sort(all.begin(), all.end());
  double exact = all[static_cast<size_t>(0.95 * all.size())];
  EXPECT_NEAR(q.Value(), exact, 0.05 * exact);
  EXPECT_NEAR(q.Value(), 10 * std::log(20.0), 2.0);  // ≈ 29.96
}

TEST(Rls2Test, RecoversLineAndFollowsAStep) {
  Rls2 rls(0.9);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> size(0, 100);
  std::normal_distribution<double> noise(0, 0.5);
  for (int i = 0; i < 300; ++i) {
    double x = size(gen);
    rls.Add(x, 40 + 1.1 * x + noise(gen));
  }
  EXPECT_NEAR(rls.Intercept(), 40, 1.0);
  EXPECT_NEAR(rls.Slope(), 1.1, 0.03);
  for (int i = 0; i < 100; ++i) {
    double x = size(gen);
    rls.Add(x, 90 + 1.1 * x + noise(gen));
  }
  EXPECT_NEAR(rls.Intercept(), 90, 1.5);
}

TEST(Rls2Test, ConstantRegressorDoesNotWindUp) {
  Rls2 rls(0.9);
  for (int i = 0; i < 10000; ++i) rls.Add(5.0, 20.0);
  EXPECT_NEAR(rls.Predict(5.0), 20.0, 1e-6);
  EXPECT_TRUE(std::isfinite(rls.Slope()));
  rls.Add(std::nan(""), 1);
  EXPECT_EQ(rls.Count(), 10000u);
}

}  // namespace
}  // namespace stoa::scheduler
