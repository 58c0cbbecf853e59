#include "bench/loadgen/arrivals.h"

#include <cmath>
#include <map>

#include "gtest/gtest.h"

namespace stoa::bench {
namespace {

TEST(ArrivalsTest, ParsesProcessNames) {
  EXPECT_EQ(*ParseArrivalProcess("constant"), ArrivalProcess::kConstant);
  EXPECT_EQ(*ParseArrivalProcess("poisson"), ArrivalProcess::kPoisson);
  auto bad = ParseArrivalProcess("bursty");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bursty"), std::string::npos);
}

TEST(ArrivalsTest, ConstantSendsExactlyRateTimesDurationPerDeviceAtFixedIntervals) {
  auto s = BuildSchedule(3, 4.0, ArrivalProcess::kConstant, 10.0, 7);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 3u * 40u);
  std::map<int, std::vector<double>> per_device;
  for (const auto& r : *s) per_device[r.device].push_back(r.offset_s);
  ASSERT_EQ(per_device.size(), 3u);
  for (const auto& [d, times] : per_device) {
    ASSERT_EQ(times.size(), 40u);
    EXPECT_GE(times.front(), 0.0);
    EXPECT_LT(times.front(), 0.25);
    for (size_t i = 1; i < times.size(); ++i) EXPECT_NEAR(times[i] - times[i - 1], 0.25, 1e-9);
  }
}

TEST(ArrivalsTest, ScheduleIsSortedAndInsideDuration) {
  auto s = BuildSchedule(20, 5.0, ArrivalProcess::kPoisson, 3.0, 1);
  ASSERT_TRUE(s.ok());
  for (size_t i = 1; i < s->size(); ++i) EXPECT_LE((*s)[i - 1].offset_s, (*s)[i].offset_s);
  for (const auto& r : *s) {
    EXPECT_GE(r.offset_s, 0.0);
    EXPECT_LT(r.offset_s, 3.0);
  }
}

TEST(ArrivalsTest, PoissonMatchesRateAndExponentialGaps) {
  // 50 devices x 10/s x 100 s: 50 000 expected, sd ~224.
  auto s = BuildSchedule(50, 10.0, ArrivalProcess::kPoisson, 100.0, 42);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(static_cast<double>(s->size()), 50000.0, 1500.0);
  // Inter-arrival gaps of device 0: mean 0.1 s, coefficient of variation ~1.
  std::vector<double> t;
  for (const auto& r : *s) {
    if (r.device == 0) t.push_back(r.offset_s);
  }
  double sum = 0, sq = 0;
  for (size_t i = 1; i < t.size(); ++i) {
    const double g = t[i] - t[i - 1];
    sum += g;
    sq += g * g;
  }
  const double n = t.size() - 1;
  const double mean = sum / n;
  const double cv = std::sqrt(sq / n - mean * mean) / mean;
  EXPECT_NEAR(mean, 0.1, 0.012);
  EXPECT_NEAR(cv, 1.0, 0.15);
}

TEST(ArrivalsTest, SameSeedSameScheduleOtherSeedDiffers) {
  auto a = BuildSchedule(4, 3.0, ArrivalProcess::kPoisson, 5.0, 9);
  auto b = BuildSchedule(4, 3.0, ArrivalProcess::kPoisson, 5.0, 9);
  auto c = BuildSchedule(4, 3.0, ArrivalProcess::kPoisson, 5.0, 10);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].offset_s, (*b)[i].offset_s);
  EXPECT_FALSE(a->size() == c->size() && (*a)[0].offset_s == (*c)[0].offset_s);
}

TEST(ArrivalsTest, RejectsBadParameters) {
  EXPECT_FALSE(BuildSchedule(0, 1, ArrivalProcess::kConstant, 1, 1).ok());
  EXPECT_FALSE(BuildSchedule(1, 0, ArrivalProcess::kConstant, 1, 1).ok());
  EXPECT_FALSE(BuildSchedule(1, 1, ArrivalProcess::kConstant, -1, 1).ok());
  auto huge = BuildSchedule(100000, 1000, ArrivalProcess::kConstant, 1000, 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("too large"), std::string::npos);
}

}  // namespace
}  // namespace stoa::bench
