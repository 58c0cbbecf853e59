// Each term converges on synthetic data with known parameters and follows
// a step change.
#include "scheduler/latency_terms.h"

#include <array>
#include <random>

#include "gtest/gtest.h"

namespace stoa::scheduler {
namespace {

TEST(NetTermTest, LearnsRttAndBandwidth) {
  // 4G: RTT 90 ms, 7.21 Mbit/s → 8 / 7210 s per kB = 1.1096 ms/kB.
  constexpr double kMsPerKb = 8.0 / 7.21;
  NetTerm net;
  EXPECT_EQ(net.Predict(10).mean_ms, 0.0);
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<double> kb(1, 200);
  std::normal_distribution<double> jitter(0, 2);
  for (int i = 0; i < 400; ++i) {
    double x = kb(gen);
    net.Observe(x, 90 + kMsPerKb * x + jitter(gen));
  }
  EXPECT_NEAR(net.RttMs(), 90, 2);
  EXPECT_NEAR(net.MsPerKb(), kMsPerKb, 0.05);
  TermEstimate e = net.Predict(100);
  EXPECT_NEAR(e.mean_ms, 90 + 100 * kMsPerKb, 3);
  EXPECT_GT(e.p95_ms, e.mean_ms + 1.5);  // 1.645 σ with σ = 2
  EXPECT_LT(e.p95_ms, e.mean_ms + 6);
  // The link degrades to a 300 ms RTT: within ~40 samples the model follows.
  for (int i = 0; i < 40; ++i) {
    double x = kb(gen);
    net.Observe(x, 300 + kMsPerKb * x + jitter(gen));
  }
  EXPECT_NEAR(net.Predict(100).mean_ms, 300 + 100 * kMsPerKb, 8);
}

TEST(QueueTermTest, DepthTimesServiceTime) {
  // An executor with 2 workers and 10 ms service: wait ≈ ahead × 10 / 2.
  QueueTerm q;
  for (int i = 0; i < 200; ++i) {
    double ahead = i % 7;
    q.Observe(ahead, ahead * 10.0 / 2.0, 10.0);
  }
  EXPECT_NEAR(q.ServiceMs(), 10, 1e-9);
  EXPECT_NEAR(q.Predict(4).mean_ms, 20, 0.5);
  EXPECT_NEAR(q.Predict(0).mean_ms, 0, 0.5);
}

// A starved executor: transfers of 30-300 ms for a while, then 1 ms again.
// Two 1 ms transfers in a row end the spell (FarBelow); the CUSUM alone,
// scaled by the spell's noise, took 5-10.
TEST(NetTermTest, FollowsTheEndOfANoisySlowSpellWithinTwoTransfers) {
  NetTerm net;
  for (int i = 0; i < 30; ++i) net.Observe(10, 1.0 + 0.05 * (i % 3));
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> slow(30, 300);
  for (int i = 0; i < 20; ++i) net.Observe(10, slow(gen));
  ASSERT_GT(net.Predict(10).mean_ms, 60);
  net.Observe(10, 1.1);
  EXPECT_GT(net.Predict(10).mean_ms, 20);  // one fast transfer is not enough
  net.Observe(10, 1.0);
  EXPECT_LT(net.Predict(10).mean_ms, 3);
}

// A spike the probes never showed: three transfers of ~60 ms on a 32 ms
// link double the estimate; two transfers back at the probe's RTT (not
// under half the estimate) bring it back.
TEST(NetTermTest, FollowsTransfersBackAtTheProbedRttWithinTwo) {
  NetTerm net;
  for (int i = 0; i < 30; ++i) net.Observe(50, 32.0 + 0.2 * (i % 3), 31.5);
  for (double slow : {51.0, 63.0, 60.0}) net.Observe(50, slow, 31.5);
  ASSERT_GT(net.Predict(50, 31.5).mean_ms, 45);
  net.Observe(50, 31.4, 31.5);
  net.Observe(50, 31.9, 31.5);
  EXPECT_LT(net.Predict(50, 31.5).mean_ms, 36);
  // Transfers at the probe's RTT when the estimate is there already: no
  // reopening (the fit stays put).
  EXPECT_FALSE(NetTerm::BackAtTheProbe(32.0, 33.0, 31.5));
  EXPECT_FALSE(NetTerm::BackAtTheProbe(32.0, 80.0, NetTerm::kNotProbed));
}

TEST(NetTermTest, NoisyTransfersAroundTheirMeanDoNotReopenTheFit) {
  // Transfers of 8-16 ms (never under half the mean): the fit stays put.
  NetTerm net;
  std::mt19937_64 gen(4);
  std::uniform_real_distribution<double> noise(8, 16);
  for (int i = 0; i < 300; ++i) net.Observe(10, noise(gen));
  EXPECT_NEAR(net.Predict(10).mean_ms, 12, 1.5);
}

// Tier-flips TK1 far-1, the 0.1-core edge: waits of 0-1 ms with nobody
// ahead, then three with someone ahead (20 ms for one, 80 and 10 ms for
// two). A line through them (the RLS fit after a reopen) predicted 190 ms
// for nobody ahead; the wait with nobody ahead stays what such waits were.
TEST(QueueTermTest, AFewNoisyWaitsWithSomeoneAheadDoNotMoveTheIdleWait) {
  QueueTerm q;
  for (int i = 0; i < 30; ++i) q.Observe(0, 0.3 * (i % 3), 30.0);
  q.Observe(1, 20.0, 42.0);
  q.Observe(2, 80.0, 41.0);
  q.Observe(2, 10.0, 32.0);
  EXPECT_LT(q.Predict(0).mean_ms, 5.0);
  EXPECT_GT(q.Predict(1).mean_ms, 5.0);
  EXPECT_LT(q.Predict(1).mean_ms, 60.0);
  EXPECT_GE(q.Slope(), 0.0);
}

TEST(QueueTermTest, ADrainedQueueIsFollowedWithinThreeWaits) {
  QueueTerm q;
  // A loaded spell: one request ahead, 100-150 ms of service, waits ~120 ms.
  for (int i = 0; i < 20; ++i) q.Observe(1, 110 + 5 * (i % 5), 100 + 10 * (i % 5));
  ASSERT_GT(q.Predict(1).mean_ms, 80);
  // The load is gone: no wait, 4 ms of service.
  q.Observe(1, 0.0, 4.0);
  q.Observe(1, 0.1, 4.0);
  EXPECT_GT(q.Predict(1).mean_ms, 20);
  q.Observe(1, 0.0, 4.0);
  EXPECT_NEAR(q.ServiceMs(), 4.0, 1e-9);
  EXPECT_LT(q.Predict(1).mean_ms, 5);
}

TEST(ColdTermTest, ConservativeDefaultThenWindowedMedian) {
  ColdTerm c;
  EXPECT_FALSE(c.Measured());
  EXPECT_EQ(c.Predict().mean_ms, ColdTerm::kDefaultMs);
  for (double v : {120.0, 118.0, 900.0, 121.0, 119.0, 122.0, 120.0}) c.Observe(v);
  // The median ignores the one 900 ms outlier.
  EXPECT_NEAR(c.Predict().mean_ms, 120, 2.5);
  // Loads become slower for good: a short window wins and follows.
  for (int i = 0; i < 12; ++i) c.Observe(300 + (i % 3));
  EXPECT_NEAR(c.Predict().mean_ms, 301, 1.5);
  EXPECT_LE(c.Window(), 9);
}

TEST(ExecTermTest, HuberFitOnBatchAndSizeIgnoresOutliers) {
  // exec = 2 + 0.5·batch + 0.1·kB, with 10 % of samples 50 ms stragglers.
  ExecTerm e;
  std::mt19937_64 gen(5);
  std::uniform_int_distribution<int> batch(1, 32);
  std::uniform_real_distribution<double> kb(1, 100), u(0, 1);
  for (int i = 0; i < 300; ++i) {
    double b = batch(gen), k = kb(gen);
    double y = 2 + 0.5 * b + 0.1 * k;
    if (u(gen) < 0.1) y += 50;
    e.Observe(b, k, y);
  }
  EXPECT_NEAR(e.Predict(16, 50).mean_ms, 2 + 8 + 5, 0.6);
  EXPECT_NEAR(e.Predict(1, 1).mean_ms, 2.6, 0.6);
}

TEST(ExecTermTest, FollowsAStepChangeWithinAFewSamples) {
  ExecTerm e;
  for (int i = 0; i < 100; ++i) e.Observe(1, 1, 5.0 + 0.01 * (i % 5));
  EXPECT_NEAR(e.Predict(1, 1).mean_ms, 5.02, 0.05);
  int n = 0;
  while (e.Predict(1, 1).mean_ms < 35) {
    e.Observe(1, 1, 40.0);
    ASSERT_LT(++n, 6);
  }
}

// Two stragglers (a burst: two runs at once on a small quota) are not a
// change of the function's time; a third in a row is.
TEST(ExecTermTest, TwoStragglersDoNotRestartTheFitAThirdDoes) {
  ExecTerm e;
  for (int i = 0; i < 40; ++i) e.Observe(1, 1, 5.0 + 0.5 * (i % 4));
  e.Observe(1, 1, 17.0);
  e.Observe(1, 1, 55.0);
  EXPECT_LT(e.Predict(1, 1).mean_ms, 10.0);
  e.Observe(1, 1, 60.0);
  EXPECT_GT(e.Predict(1, 1).mean_ms, 30.0);
}

// Just after a change the window holds one or two samples and no spread of
// its own: the executor's ordinary spread (a quota-bound cloud at 5-35 ms a
// run) is not taken for another change, while a real step still is.
TEST(ExecTermTest, AShortWindowKeepsTheSpreadOfTheLastFullOne) {
  const std::array<double, 8> spread = {5, 9, 6, 12, 5, 15, 8, 24};
  ExecTerm e;
  for (int i = 0; i < 40; ++i) e.Observe(1, 1, spread[i % spread.size()]);
  e.Observe(1, 1, 5.0, /*start_over=*/true);
  ASSERT_NEAR(e.Predict(1, 1).mean_ms, 5.0, 0.01);
  e.Observe(1, 1, 16.0);
  e.Observe(1, 1, 23.0);
  EXPECT_LT(e.Predict(1, 1).mean_ms, 15.0);  // not restarted on 16 and 23
  // A load: 10-30x the level, followed within a few samples.
  int n = 0;
  while (e.Predict(1, 1).mean_ms < 120) {
    e.Observe(1, 1, 150.0 + 10.0 * (n % 3));
    ASSERT_LT(++n, 4);
  }
}

}  // namespace
}  // namespace stoa::scheduler
