#include "common/metrics.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stoa::common::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterRendersWithLabelsSorted) {
  Registry registry;
  auto& family = registry.AddCounter("stoa_invocations_total", "Invocations.");
  family.Add({{"tier", "edge"}, {"function", "digits"}})->Increment(3);
  std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP stoa_invocations_total Invocations.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE stoa_invocations_total counter\n"));
  EXPECT_THAT(text, HasSubstr("stoa_invocations_total{function=\"digits\",tier=\"edge\"} 3\n"));
}

TEST(MetricsTest, SameLabelsReturnSameMetric) {
  Registry registry;
  auto& family = registry.AddGauge("stoa_executor_queue_depth", "Depth.");
  GaugePtr a = family.Add({{"tier", "cloud"}});
  GaugePtr b = family.Add({{"tier", "cloud"}});
  EXPECT_EQ(a, b);
  a->Set(4);
  b->Decrement();
  EXPECT_DOUBLE_EQ(a->Value(), 3);
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
  HistogramPtr h = family.Add({});
  h->Observe(0.05);
  h->Observe(0.1);  // le is inclusive
  h->Observe(0.5);
  h->Observe(7);
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
  CounterPtr c = registry.AddCounter("stoa_c_total", "C.").Add({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c->Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(c->Value(), 40000);
}

// Lines of the exposition that are samples (not # HELP / # TYPE).
size_t SampleLines(const std::string& text) {
  size_t lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start && text[start] != '#') ++lines;
    start = end + 1;
  }
  return lines;
}

TEST(MetricsTest, RemoveDropsOneSeriesFromTheExposition) {
  Registry registry;
  auto& family = registry.AddCounter("stoa_c_total", "C.");
  family.Add({{"function", "a"}})->Increment();
  family.Add({{"function", "b"}})->Increment(2);
  EXPECT_TRUE(family.Remove({{"function", "a"}}));
  EXPECT_FALSE(family.Remove({{"function", "a"}}));
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("function=\"a\"")));
  EXPECT_THAT(text, HasSubstr("stoa_c_total{function=\"b\"} 2\n"));
  EXPECT_EQ(family.size(), 1u);
  EXPECT_EQ(registry.series(), 1u);
}

TEST(MetricsTest, RemoveMatchingDropsEverySeriesOfAFunctionInEveryFamily) {
  Registry registry;
  auto& calls = registry.AddCounter("stoa_calls_total", "Calls.");
  auto& latency = registry.AddHistogram("stoa_latency_seconds", "Latency.", {0.1});
  auto& depth = registry.AddGauge("stoa_depth", "Depth.");
  calls.Add({{"function", "gone"}, {"outcome", "ok"}})->Increment();
  calls.Add({{"function", "gone"}, {"outcome", "internal"}})->Increment();
  calls.Add({{"function", "kept"}, {"outcome", "ok"}})->Increment();
  latency.Add({{"function", "gone"}, {"tier", "edge"}})->Observe(0.01);
  depth.Add({{"tier", "edge"}})->Set(3);
  const std::string before = registry.Serialize();

  EXPECT_EQ(registry.RemoveMatching("function", "gone"), 3u);
  const std::string after = registry.Serialize();
  EXPECT_THAT(after, Not(HasSubstr("gone")));
  EXPECT_THAT(after, HasSubstr("stoa_calls_total{function=\"kept\",outcome=\"ok\"} 1\n"));
  EXPECT_THAT(after, HasSubstr("stoa_depth{tier=\"edge\"} 3\n"));
  // Two counters and a histogram of one bound (2 buckets, sum, count) gone.
  EXPECT_EQ(SampleLines(before) - SampleLines(after), 2u + 4u);
  EXPECT_EQ(registry.series(), 2u);
  EXPECT_EQ(registry.RemoveMatching("function", "gone"), 0u);
}

TEST(MetricsTest, AHandleHeldAcrossRemovalStaysUsableAndDetached) {
  Registry registry;
  auto& family = registry.AddHistogram("stoa_x_seconds", "X.", {1.0});
  HistogramPtr cached = family.Add({{"function", "f"}});
  cached->Observe(0.5);
  ASSERT_TRUE(family.Remove({{"function", "f"}}));
  // Still a live object (ASan would catch a dangling one); not exported.
  cached->Observe(0.5);
  EXPECT_EQ(cached->Count(), 2u);
  EXPECT_THAT(registry.Serialize(), Not(HasSubstr("function=\"f\"")));
  // The same labels again: a new series from zero, not the detached one.
  HistogramPtr fresh = family.Add({{"function", "f"}});
  EXPECT_NE(fresh, cached);
  EXPECT_EQ(fresh->Count(), 0u);
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_x_seconds_count{function=\"f\"} 0\n"));
}

TEST(MetricsTest, RemovalRacingUpdatesIsSafe) {
  Registry registry;
  auto& family = registry.AddCounter("stoa_c_total", "C.");
  std::atomic<bool> stop{false};
  std::thread updater([&] {
    CounterPtr cached = family.Add({{"function", "f"}});
    while (!stop.load()) {
      cached->Increment();
      family.Add({{"function", "f"}, {"outcome", "ok"}})->Increment();
    }
  });
  for (int i = 0; i < 2000; ++i) registry.RemoveMatching("function", "f");
  stop = true;
  updater.join();
  registry.RemoveMatching("function", "f");
  EXPECT_EQ(registry.series(), 0u);
}

TEST(MetricsTest, PastTheCapAddReturnsAnUnexportedSinkAndCountsTheDrop) {
  Registry registry(/*max_series=*/3);
  auto& family = registry.AddCounter("stoa_c_total", "C.");
  for (int i = 0; i < 3; ++i) family.Add({{"function", absl::StrCat("f", i)}})->Increment();
  CounterPtr over = family.Add({{"function", "f3"}});
  ASSERT_NE(over, nullptr);
  over->Increment();
  EXPECT_NE(registry.AddGauge("stoa_g", "G.").Add({{"function", "f4"}}), nullptr);
  EXPECT_EQ(family.Add({{"function", "f5"}}), over);  // one sink per family, shared
  EXPECT_EQ(registry.series(), 3u);
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, Not(HasSubstr("function=\"f3\"")));
  EXPECT_THAT(text, Not(HasSubstr("function=\"f4\"")));
  EXPECT_THAT(text, Not(HasSubstr("function=\"f5\"")));
  EXPECT_THAT(text, HasSubstr("stoa_metrics_series_dropped_total{family=\"stoa_c_total\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("stoa_metrics_series_dropped_total{family=\"stoa_g\"} 1\n"));
  // Existing series still update past the cap.
  family.Add({{"function", "f0"}})->Increment();
  EXPECT_THAT(registry.Serialize(), HasSubstr("stoa_c_total{function=\"f0\"} 2\n"));
}

TEST(MetricsTest, RemovingSeriesMakesRoomUnderTheCap) {
  Registry registry(/*max_series=*/2);
  auto& family = registry.AddCounter("stoa_c_total", "C.");
  for (int cycle = 0; cycle < 100; ++cycle) {
    const std::string name = absl::StrCat("f", cycle);
    family.Add({{"function", name}, {"outcome", "ok"}})->Increment();
    family.Add({{"function", name}, {"outcome", "internal"}})->Increment();
    EXPECT_EQ(registry.RemoveMatching("function", name), 2u);
  }
  EXPECT_EQ(registry.series(), 0u);
  EXPECT_THAT(registry.Serialize(), Not(HasSubstr("stoa_metrics_series_dropped_total{")));
}

TEST(MetricsTest, DefaultCapIsTenThousand) {
  Registry registry;
  EXPECT_EQ(registry.max_series(), kDefaultMaxSeries);
  EXPECT_EQ(kDefaultMaxSeries, 10000u);
}

}  // namespace
}  // namespace stoa::common::metrics
