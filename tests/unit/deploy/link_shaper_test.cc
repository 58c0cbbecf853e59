#include "deploy/testbed/link_shaper.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace stoa::deploy {
namespace {

TEST(LinkShaperTest, ConstantDelayWithoutRateLimit) {
  LinkShaper shaper(LinkParams{50, 0, 0, 0}, 1);
  EXPECT_EQ(shaper.Schedule(1000, 100, 0), 51000);
  EXPECT_EQ(shaper.Schedule(2000, 100, 51000), 52000);
}

TEST(LinkShaperTest, RateThenDelay) {
  // 8 Mbit/s = 1 byte/µs; the burst is free, the rest is serialised.
  LinkShaper shaper(LinkParams{10, 0, 8, 0}, 1);
  const size_t burst = static_cast<size_t>(LinkShaper::kBurstBytes);
  EXPECT_EQ(shaper.Schedule(0, burst, 0), 10000);
  EXPECT_EQ(shaper.Schedule(0, 5000, 0), 5000 + 10000);
}

TEST(LinkShaperTest, JitterIsNormalAroundTheDelayAndNeverReorders) {
  LinkShaper shaper(LinkParams{45, 5, 0, 0}, 42);
  std::vector<double> delays;
  int64_t prev = 0;
  int reorders_prevented = 0;
  for (int i = 0; i < 20000; ++i) {
    const int64_t now = int64_t{i} * 1000;  // a chunk every ms
    const int64_t release = shaper.Schedule(now, 10, 0);
    delays.push_back((release - now) / 1000.0);
    const int64_t ordered = std::max(release, prev);
    if (ordered != release) ++reorders_prevented;
    prev = shaper.Schedule(now, 10, prev);
    EXPECT_GE(prev, now);
  }
  double mean = 0, var = 0;
  for (double d : delays) mean += d / delays.size();
  for (double d : delays) var += (d - mean) * (d - mean) / delays.size();
  EXPECT_NEAR(mean, 45, 0.2);
  EXPECT_NEAR(std::sqrt(var), 5, 0.2);
  EXPECT_GT(reorders_prevented, 0);  // with 1 ms spacing jitter would reorder
}

TEST(LinkShaperTest, ReleaseNeverBeforePreviousChunk) {
  LinkShaper shaper(LinkParams{10, 0, 0, 0}, 1);
  EXPECT_EQ(shaper.Schedule(0, 1, 500000), 500000);
}

TEST(LinkShaperTest, LossAddsOneRetransmissionTimeout) {
  LinkShaper shaper(LinkParams{20, 0, 0, 0.5}, 7);
  int lost = 0;
  for (int i = 0; i < 2000; ++i) {
    const int64_t delay = shaper.Schedule(0, 10, 0);
    ASSERT_TRUE(delay == 20000 || delay == 20000 + 200000) << delay;
    if (delay > 20000) ++lost;
  }
  EXPECT_NEAR(lost / 2000.0, 0.5, 0.05);
  EXPECT_DOUBLE_EQ(LinkShaper::RtoMs(LinkParams{150, 10, 0, 0}), 340);
}

TEST(LinkShaperTest, FullLossIsABlackholeAndSetTakesEffect) {
  LinkShaper shaper(LinkParams{}, 1);
  EXPECT_FALSE(shaper.Blackholed());
  shaper.Set(0, LinkParams{0, 0, 0, 1});
  EXPECT_TRUE(shaper.Blackholed());
  shaper.Set(0, LinkParams{100, 0, 0, 0});
  EXPECT_FALSE(shaper.Blackholed());
  EXPECT_EQ(shaper.Schedule(0, 1, 0), 100000);
  EXPECT_EQ(shaper.params(), (LinkParams{100, 0, 0, 0}));
}

TEST(LinkShaperTest, SameSeedSameSchedule) {
  LinkShaper a(LinkParams{45, 5, 7.21, 0.1}, 9);
  LinkShaper b(LinkParams{45, 5, 7.21, 0.1}, 9);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(a.Schedule(i * 100, 1500, 0), b.Schedule(i * 100, 1500, 0));
}

}  // namespace
}  // namespace stoa::deploy
