#include "common/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterRendersWithLabelsSorted) {
  Registry registry;
  auto& family = registry.AddCounter("stoa_invocations_total", "Invocations.");
  family.Add({{"tier", "edge"}, {"function", "digits"}}).Increment(3);
  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP stoa_invocations_total Invocations.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE stoa_invocations_total counter\n"));
  EXPECT_THAT(text, HasSubstr("stoa_invocations_total{function=\"digits\",tier=\"edge\"} 3\n"));
}

TEST(MetricsTest, SameLabelsReturnSameMetric) {
  Registry registry;
  auto& family = registry.AddGauge("stoa_executor_queue_depth", "Depth.");
  Gauge& a = family.Add({{"tier", "cloud"}});
  Gauge& b = family.Add({{"tier", "cloud"}});
  EXPECT_EQ(&a, &b);
  a.Set(4);
  b.Decrement();
  EXPECT_DOUBLE_EQ(a.Value(), 3);
}

TEST(MetricsTest, CounterIgnoresNegativeIncrements) {
  Counter c;
  c.Increment(2);
  c.Increment(-5);
  EXPECT_DOUBLE_EQ(c.Value(), 2);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry registry;
  auto& family = registry.AddHistogram("stoa_x_seconds", "X.", {0.1, 1.0});
  Histogram& h = family.Add({});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("stoa_x_seconds_bucket{le=\"0.10000000000000001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("stoa_x_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("stoa_x_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("stoa_x_seconds_count 4\n"));
  EXPECT_THAT(text, HasSubstr("stoa_x_seconds_sum 7.6500000000000004\n"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  Counter& c = registry.AddCounter("stoa_c_total", "C.").Add({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(c.Value(), 40000);
}

}  // namespace
}  // namespace stoa::common::metrics
